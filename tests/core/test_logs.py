"""Logs carry no personal data and never stall the event loop: plain or JSON lines (no rich),
Twilio's per-request lines quieted, SMS bodies and statement parameters never logged, provider
error texts masked."""

from __future__ import annotations

import io
import json
import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlmodel import Session

from renewals.core.logs import setup_logging
from renewals.core.notify import ConsoleNotifier, SendError
from renewals.core.settings import Settings

PHONE = "+8613912345678"


def test_the_console_backend_logs_template_case_and_masked_recipient_never_the_body(caplog):
    caplog.set_level(logging.INFO, logger="renewals.core.notify")
    ConsoleNotifier().send_sms(PHONE, "【人保财险】钱多多您好,沪A12345的保单3月1日到期", label="first_notice case C1")
    ConsoleNotifier().place_call(PHONE, f"<Response><Dial><Number>{PHONE}</Number></Dial></Response>")
    assert "first_notice case C1" in caplog.text and "139****5678" in caplog.text
    for secret in ("钱多多", "沪A12345", "13912345678"):
        assert secret not in caplog.text


def test_provider_error_texts_carry_no_phone_number():
    error = SendError("The 'To' number +86 139 1234 5678 is not a valid phone number.", code=21211, retryable=False)
    assert "1234 5678" not in str(error) and "139****5678" in str(error)


def test_statement_parameters_never_reach_error_messages(engine):
    with Session(engine) as session, pytest.raises(StatementError) as error:
        session.exec(text("select :phone"), params={"phone": "139\x0012345678"})
    assert "12345678" not in str(error.value)


@pytest.fixture
def restored_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    twilio_level = logging.getLogger("twilio").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("twilio").setLevel(twilio_level)


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_server_logs_are_plain_or_json_lines_and_twilio_requests_are_quiet(log_format, restored_logging):
    setup_logging(Settings(_env_file=None, log_format=log_format))
    [handler] = logging.getLogger().handlers
    assert type(handler) is logging.StreamHandler, "no rich handler on servers"
    stream = io.StringIO()
    handler.setStream(stream)
    logging.getLogger("twilio.http_client").info("POST Request: https://api.twilio.com/.../Messages.json")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("api.errors").exception("unhandled")
    lines = stream.getvalue().strip().splitlines()
    assert "Messages.json" not in stream.getvalue()
    if log_format == "json":
        entry = json.loads(lines[0])
        assert (entry["level"], entry["logger"], entry["message"]) == ("ERROR", "api.errors", "unhandled")
        assert "ValueError: boom" in entry["exception"] and len(lines) == 1
    else:
        assert "ERROR api.errors: unhandled" in lines[0] and "ValueError: boom" in lines[-1]
