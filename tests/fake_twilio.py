"""A local stand-in for the Twilio REST API (Messages and Calls), so tests never reach twilio.com.

Point TwilioNotifier at it with Settings(twilio_api_base_url=fake.base_url, ...). Besides creating
and fetching, it lists Messages with Twilio's filters (To, From, DateSent, DateSent<, DateSent>,
PageSize, Page) and injects faults: error answers (5xx, 429, permanent 4xx), and slow answers
(the request takes effect, the answer comes late: a client timeout does not mean "not sent").
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from collections import Counter
from datetime import date, datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from renewals.case.messages import sms_segments
from tests.fake_server import FakeServer

API_VERSION = "2010-04-01"
_ERROR_MESSAGES = {
    400: "Bad Request",
    401: "Authenticate",
    404: "The requested resource was not found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, Any]  # form fields; a field sent several times is a list
    account_sid: str | None  # from the Basic auth header
    headers: dict[str, str] = field(default_factory=dict)


class FakeTwilio(FakeServer):
    """Threaded HTTP server on 127.0.0.1 answering like api.twilio.com for Messages and Calls."""

    name = "fake-twilio"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.resources: dict[str, dict[str, Any]] = {}  # sid -> JSON, for GET .../{sid}.json
        self._failures: list[tuple[int, int | None]] = []
        self._slow: list[float] = []
        self._chaos: Chaos | None = None
        # Twilio accepted the messages but has not sent them (queued behind a messaging service's
        # rate limit): they stay queued, with no DateSent.
        self.holds_messages = False
        self._lock = threading.Lock()
        super().__init__()

    # -- test controls -----------------------------------------------------------------------
    def fail_next(self, status: int, code: int | None = None, times: int = 1) -> None:
        """The next `times` requests (any endpoint) answer `status` with a Twilio error body."""
        with self._lock:
            self._failures.extend([(status, code)] * times)

    def slow_next(self, seconds: float, times: int = 1) -> None:
        """The next `times` requests take effect at once but are answered `seconds` later."""
        with self._lock:
            self._slow.extend([seconds] * times)

    def chaos(self, chaos: Chaos | None) -> None:
        """From now on, each request may fail or be slow at random (None: behave again)."""
        with self._lock:
            self._chaos = chaos

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.resources.clear()
            self._failures.clear()
            self._slow.clear()
            self._chaos = None

    def duplicates(self) -> int:
        """Messages accepted more than once for the same recipient and body (each extra counts)."""
        counts = Counter((m["to"], m["body"]) for m in self.delivered())
        return sum(n - 1 for n in counts.values())

    def messages(self) -> list[dict[str, Any]]:
        return [r.params for r in self.requests if r.method == "POST" and r.path.endswith("/Messages.json")]

    def delivered(self, to: str | None = None) -> list[dict[str, Any]]:
        """Messages the fake accepted (failed attempts excluded), oldest first."""
        with self._lock:
            return [r for r in self.resources.values()
                    if r["sid"].startswith("SM") and (to is None or r["to"] == to)]

    def calls(self) -> list[dict[str, Any]]:
        return [r.params for r in self.requests if r.method == "POST" and r.path.endswith("/Calls.json")]

    # -- the API -----------------------------------------------------------------------------
    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        path = urlsplit(http.path).path
        length = int(http.headers.get("Content-Length") or 0)
        form = parse_qs(http.rfile.read(length).decode(), keep_blank_values=True)
        params = {k: v[0] if len(v) == 1 else v for k, v in form.items()}
        request = RecordedRequest(http.command, path, params, _auth_sid(http.headers.get("Authorization")), dict(http.headers))
        request.params.update({k: v[0] for k, v in parse_qs(urlsplit(http.path).query).items()})
        with self._lock:
            self.requests.append(request)
            failure = self._failures.pop(0) if self._failures else None
            delay = self._slow.pop(0) if self._slow else 0.0
            if self._chaos and failure is None and not delay:
                failure, delay = self._chaos.draw()
        if failure:
            return _reply(http, *_error(*failure, detail=None))
        if request.account_sid is None:
            return _reply(http, *_error(401, 20003))
        status, body = self._route(request)
        time.sleep(delay)
        try:
            _reply(http, status, body)
        except OSError:  # the client gave up waiting
            pass

    def _route(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        parts = request.path.strip("/").split("/")
        # /2010-04-01/Accounts/{AccountSid}/{Messages|Calls}.json[/{Sid}.json]
        if len(parts) < 4 or parts[0] != API_VERSION or parts[1] != "Accounts":
            return _error(404, 20404)
        account, resource = parts[2], parts[3]
        if request.method == "POST" and len(parts) == 4 and resource in ("Messages.json", "Calls.json"):
            make = _message if resource == "Messages.json" else _call
            created = make(account, request.params)
            with self._lock:
                # Stored as sent at once (the create answer itself still says queued, DateSent null),
                # unless messages are held.
                sent = resource == "Messages.json" and not self.holds_messages
                self.resources[created["sid"]] = {**created, "date_sent": created["date_created"]} if sent else created
            return 201, created
        if request.method == "GET" and len(parts) == 4 and resource == "Messages.json":
            return 200, self._list_messages(request)
        if request.method == "GET" and len(parts) == 5 and parts[4].removesuffix(".json") in self.resources:
            return 200, self.resources[parts[4].removesuffix(".json")]
        return _error(404, 20404)


    def _list_messages(self, request: RecordedRequest) -> dict[str, Any]:
        """Filtered and sorted as Twilio documents: DateSent compares GMT days (the client sends
        a full timestamp; Twilio reads its date); sorted by DateSent, newest first. Where Twilio
        puts messages not sent yet (no DateSent) it does not say: here they come first, as the
        newest (among equal DateSent, the later created first)."""
        q = request.params
        day = {op: date.fromisoformat(q[f"DateSent{op}"][:10]) for op in ("", "<", ">") if q.get(f"DateSent{op}")}
        with self._lock:
            found = [m for m in self.resources.values() if m["sid"].startswith("SM")
                     and q.get("To", m["to"]) == m["to"] and q.get("From", m["from"]) == m["from"]]
        def sent_at(m: dict[str, Any]) -> datetime | None:
            return parsedate_to_datetime(m["date_sent"]) if m["date_sent"] else None
        found = [m for m in reversed(found) if all(sent_at(m) is not None and (
            (op == "" and sent_at(m).date() == d) or (op == "<" and sent_at(m).date() <= d)
            or (op == ">" and sent_at(m).date() >= d)) for op, d in day.items())]
        found.sort(key=lambda m: (sent_at(m) is None, sent_at(m) or datetime.min.replace(tzinfo=timezone.utc)),
                   reverse=True)  # stable: equal keys keep the newest created first
        size, page = int(q.get("PageSize", 50)), int(q.get("Page", 0))
        items = found[page * size:(page + 1) * size]
        uri = request.path + "?" + urlencode({k: v for k, v in q.items() if k not in ("Page", "PageToken")})
        more = len(found) > (page + 1) * size
        return {
            "messages": items, "page": page, "page_size": size, "start": page * size,
            "end": page * size + max(len(items) - 1, 0), "uri": f"{uri}&Page={page}",
            "first_page_uri": f"{uri}&Page=0", "previous_page_uri": f"{uri}&Page={page - 1}" if page else None,
            "next_page_uri": f"{uri}&Page={page + 1}" if more else None,
        }


@dataclass
class Chaos:
    """Random faults, each with its probability per request (what bench.faults injects)."""

    server_error: float = 0.0  # 500/503
    too_many_requests: float = 0.0  # 429
    slow: float = 0.0  # answered after `slow_seconds`, having taken effect
    slow_seconds: float = 8.0
    rng: random.Random = field(default_factory=random.Random)

    def draw(self) -> tuple[tuple[int, int | None] | None, float]:
        roll = self.rng.random()
        if roll < self.server_error:
            return (self.rng.choice([500, 503]), None), 0.0
        if roll < self.server_error + self.too_many_requests:
            return (429, 20429), 0.0
        if roll < self.server_error + self.too_many_requests + self.slow:
            return None, self.slow_seconds
        return None, 0.0


def _auth_sid(header: str | None) -> str | None:
    if not header or not header.startswith("Basic "):
        return None
    return base64.b64decode(header[6:]).decode().partition(":")[0] or None


def _now() -> str:
    return format_datetime(datetime.now(timezone.utc))  # RFC 2822, as Twilio writes dates


def _error(status: int, code: int | None, detail: str | None = None) -> tuple[int, dict[str, Any]]:
    code = code if code is not None else 20000 + status  # Twilio's 20xxx mirror HTTP statuses
    return status, {
        "code": code,
        "message": detail or _ERROR_MESSAGES.get(status, f"HTTP {status}"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _reply(http: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    http.send_response(status)
    http.send_header("Content-Type", "application/json; charset=utf-8")
    http.send_header("Content-Length", str(len(data)))
    http.send_header("Twilio-Request-Id", "RQ" + uuid.uuid4().hex)
    http.end_headers()
    http.wfile.write(data)


def _message(account: str, params: dict[str, Any]) -> dict[str, Any]:
    sid, now, body = "SM" + uuid.uuid4().hex, _now(), params.get("Body", "")
    service = params.get("MessagingServiceSid")
    uri = f"/{API_VERSION}/Accounts/{account}/Messages/{sid}"
    return {
        "account_sid": account,
        "api_version": API_VERSION,
        "body": body,
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": params.get("From"),
        "messaging_service_sid": service,
        "num_media": "0",
        "num_segments": str(sms_segments(body)[0]),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        # Through a messaging service without From, Twilio answers 'accepted' (sender not chosen yet).
        "status": "accepted" if service and not params.get("From") else "queued",
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": params.get("To"),
        "uri": f"{uri}.json",
    }


def _call(account: str, params: dict[str, Any]) -> dict[str, Any]:
    sid, now = "CA" + uuid.uuid4().hex, _now()
    uri = f"/{API_VERSION}/Accounts/{account}/Calls/{sid}"
    return {
        "account_sid": account,
        "annotation": None,
        "answered_by": None,
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": now,
        "date_updated": now,
        "direction": "outbound-api",
        "duration": None,
        "end_time": None,
        "forwarded_from": None,
        "from": params.get("From"),
        "from_formatted": params.get("From"),
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": "PN" + uuid.uuid4().hex,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": sid,
        "start_time": None,
        "status": "queued",
        "subresource_uris": {
            "notifications": f"{uri}/Notifications.json",
            "recordings": f"{uri}/Recordings.json",
            "events": f"{uri}/Events.json",
        },
        "to": params.get("To"),
        "to_formatted": params.get("To"),
        "trunk_sid": None,
        "uri": f"{uri}.json",
    }


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake
