"""A local stand-in for Alibaba Cloud's SMS API (dysmsapi 2017-05-25: SendSms and QuerySendDetails),
so tests never reach aliyuncs.com.

Point AliyunNotifier at it with Settings(aliyun_sms_api_base_url=fake.base_url, ...). The official
client calls it as it calls Alibaba Cloud (RPC style: the action in `x-acs-action`, the parameters in
the query string, an ACS3-HMAC-SHA256 Authorization header). Messages are rendered from the
templates registered here (`${name}` placeholders, the sign name in 【】 before them), answered with
a BizId, and listed per phone and day as QuerySendDetails lists them. Faults: HTTP errors (5xx,
throttling), refusals (HTTP 200 with an error Code, as Alibaba Cloud refuses a message), and slow
answers (the message is taken at once, the answer comes late: a client timeout does not mean "not
sent").
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import Counter
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from tests.fake_server import FakeServer

API_VERSION = "2017-05-25"
CHINA = ZoneInfo("Asia/Shanghai")  # Alibaba Cloud dates its sends in China time
_MAINLAND_MOBILE = re.compile(r"1[3-9][0-9]{9}")


class FakeAliyunSms(FakeServer):
    """Threaded HTTP server on 127.0.0.1 answering like dysmsapi.aliyuncs.com for SMS sends and lookups."""

    name = "fake-aliyun"

    def __init__(self, templates: dict[str, str] | None = None) -> None:
        self.templates: dict[str, str] = dict(templates or {})  # registered: TemplateCode -> text
        self.requests: list[dict[str, Any]] = []  # each request's action, parameters and access key id
        self.sent: list[dict[str, Any]] = []  # accepted messages, oldest first
        self._failures: list[tuple[int, str]] = []
        self._refusals: list[str] = []
        self._slow: list[float] = []
        self._lock = threading.Lock()
        super().__init__()

    # -- test controls -----------------------------------------------------------------------
    def fail_next(self, status: int, code: str = "ServiceUnavailable", times: int = 1) -> None:
        """The next `times` requests answer HTTP `status` with an error body of `code`."""
        with self._lock:
            self._failures.extend([(status, code)] * times)

    def refuse_next(self, code: str, times: int = 1) -> None:
        """The next `times` sends are refused as Alibaba Cloud refuses a message: HTTP 200, Code `code`."""
        with self._lock:
            self._refusals.extend([code] * times)

    def slow_next(self, seconds: float, times: int = 1) -> None:
        """The next `times` requests take effect at once but are answered `seconds` later."""
        with self._lock:
            self._slow.extend([seconds] * times)

    def delivered(self, to: str | None = None) -> list[dict[str, Any]]:
        """Messages accepted (to `to`, E.164 or national), oldest first; "body" is the text sent."""
        with self._lock:
            return [m for m in self.sent if to is None or m["phone"] == _national(to)]

    def duplicates(self) -> int:
        """Messages accepted more than once for the same recipient and text (each extra counts)."""
        counts = Counter((m["phone"], m["body"]) for m in self.delivered())
        return sum(n - 1 for n in counts.values())

    def actions(self, action: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["action"] == action]

    # -- the API -----------------------------------------------------------------------------
    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length).decode()
        params = {k: v[0] for k, v in parse_qs(urlsplit(http.path).query, keep_blank_values=True).items()}
        params.update({k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()})
        action = http.headers.get("x-acs-action", params.get("Action", ""))
        key_id = _access_key_id(http.headers.get("Authorization", ""))
        with self._lock:
            self.requests.append({"action": action, "params": params, "access_key_id": key_id})
            failure = self._failures.pop(0) if self._failures else None
            delay = self._slow.pop(0) if self._slow else 0.0
        if failure:
            return _reply(http, failure[0], _error(failure[1]))
        if key_id is None:
            return _reply(http, 404, _error("InvalidAccessKeyId.NotFound", "Specified access key is not found."))
        if http.headers.get("x-acs-version") != API_VERSION or action not in ("SendSms", "QuerySendDetails"):
            return _reply(http, 404, _error("InvalidAction.NotFound", f"Specified api is not found: {action}"))
        answer = self._send(params) if action == "SendSms" else self._query(params)
        time.sleep(delay)
        try:
            _reply(http, 200, answer)
        except OSError:  # the client gave up waiting
            pass

    def _send(self, params: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            refusal = self._refusals.pop(0) if self._refusals else None
        if refusal:
            return _error(refusal)
        phone = params.get("PhoneNumbers", "")
        if not _MAINLAND_MOBILE.fullmatch(phone):
            return _error("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        template = self.templates.get(params.get("TemplateCode", ""))
        if template is None or not params.get("SignName"):
            return _error("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        values = json.loads(params.get("TemplateParam") or "{}")
        missing = set(re.findall(r"\$\{(\w+)\}", template)) - set(values)
        if missing:
            return _error("isv.TEMPLATE_MISSING_PARAMETERS", f"模板缺少变量: {', '.join(sorted(missing))}")
        text = re.sub(r"\$\{(\w+)\}", lambda m: str(values[m[1]]), template)
        now = datetime.now(CHINA)
        message = {
            "biz_id": f"{uuid.uuid4().int % 10**15:015d}^0", "phone": phone, "out_id": params.get("OutId"),
            "template_code": params["TemplateCode"], "params": values, "body": f"【{params['SignName']}】{text}",
            "send_date": now.strftime("%Y-%m-%d %H:%M:%S"), "day": now.strftime("%Y%m%d"),
        }
        with self._lock:
            self.sent.append(message)
        return {"Code": "OK", "Message": "OK", "BizId": message["biz_id"], "RequestId": _request_id()}

    def _query(self, params: dict[str, str]) -> dict[str, Any]:
        """One page of a phone's messages on one day (SendDate yyyyMMdd, China time), newest first."""
        size, page = int(params.get("PageSize", 10)), int(params.get("CurrentPage", 1))
        if not 1 <= size <= 50 or page < 1 or not params.get("SendDate") or not params.get("PhoneNumber"):
            return _error("isv.INVALID_PARAMETERS", "参数异常")
        with self._lock:
            found = [m for m in reversed(self.sent) if m["phone"] == params["PhoneNumber"]
                     and m["day"] == params["SendDate"] and params.get("BizId", m["biz_id"]) == m["biz_id"]]
        details = [{"PhoneNum": m["phone"], "SendStatus": 1, "ErrCode": "", "TemplateCode": m["template_code"],
                    "Content": m["body"], "SendDate": m["send_date"], "ReceiveDate": "", "OutId": m["out_id"]}
                   for m in found[(page - 1) * size:page * size]]
        return {"Code": "OK", "Message": "OK", "RequestId": _request_id(), "TotalCount": len(found),
                "SmsSendDetailDTOs": {"SmsSendDetailDTO": details}}


def _national(phone: str) -> str:
    return phone.removeprefix("+86")


def _access_key_id(authorization: str) -> str | None:
    match = re.match(r"ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=[^,]+,Signature=[0-9a-f]{64}$", authorization)
    return match[1] if match else None


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


def _error(code: str, message: str | None = None) -> dict[str, Any]:
    return {"Code": code, "Message": message or code, "RequestId": _request_id()}


def _reply(http: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body, ensure_ascii=False).encode()
    http.send_response(status)
    http.send_header("Content-Type", "application/json;charset=utf-8")
    http.send_header("Content-Length", str(len(data)))
    http.end_headers()
    http.wfile.write(data)


@pytest.fixture
def fake_aliyun() -> Iterator[FakeAliyunSms]:
    with FakeAliyunSms() as fake:
        yield fake
