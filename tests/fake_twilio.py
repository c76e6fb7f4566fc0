"""A local stand-in for the Twilio REST API (Messages and Calls), so tests never reach twilio.com.

Point TwilioNotifier at it with Settings(twilio_api_base_url=fake.base_url, ...).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from renewals.messages import sms_segments

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


class FakeTwilio:
    """Threaded HTTP server on 127.0.0.1 answering like api.twilio.com for Messages and Calls."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.resources: dict[str, dict[str, Any]] = {}  # sid -> JSON, for GET .../{sid}.json
        self._failures: list[tuple[int, int | None]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeTwilio:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-twilio", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = self._thread = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server, "FakeTwilio is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- test controls -----------------------------------------------------------------------
    def fail_next(self, status: int, code: int | None = None, times: int = 1) -> None:
        """The next `times` requests (any endpoint) answer `status` with a Twilio error body."""
        with self._lock:
            self._failures.extend([(status, code)] * times)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.resources.clear()
            self._failures.clear()

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
        with self._lock:
            self.requests.append(request)
            failure = self._failures.pop(0) if self._failures else None
        if failure:
            return _reply(http, *_error(*failure, detail=None))
        if request.account_sid is None:
            return _reply(http, *_error(401, 20003))
        status, body = self._route(request)
        _reply(http, status, body)

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
                self.resources[created["sid"]] = created
            return 201, created
        if request.method == "GET" and len(parts) == 5 and parts[4].removesuffix(".json") in self.resources:
            return 200, self.resources[parts[4].removesuffix(".json")]
        return _error(404, 20404)


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
