"""The SMS sent to our number that were handled, by Twilio's MessageSid."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import timestamp


class InboundSms(SQLModel, table=True):
    """One row per message, written as it is first handled: a retry or a replay of the same
    signed webhook carries the same MessageSid and finds it here (renewals.case.callbacks)."""

    __tablename__ = "inbound_sms"
    message_sid: str = Field(primary_key=True, max_length=64)
    received_at: datetime = timestamp()
