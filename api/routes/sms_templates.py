"""SMS templates (营销模板管理): the admin reads the newest version of each, previews an edit rendered
for a real case (masked) with its segment count, and saves it as a new version (who and when kept).
The next SMS of that key and language uses it and records its version."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from api.access import case_scope, find_case
from api.deps import CurrentStaff, NowDep, SessionDep
from api.errors import ApiError, error_responses
from api.inputs import Text
from api.quoting import case_today
from models import RenewalCase, Role, SmsTemplate, Staff
from renewals.case.messages import LANGUAGES, MARKETING_KEYS, MESSAGE_KEYS, REQUIRED_PLACEHOLDERS, Encoding
from renewals.case.sms_templates import TemplateRefused, newest, preview, save, versions

router = APIRouter(prefix="/sms-templates", tags=["sms templates"])

MessageKey = StrEnum("MessageKey", {key: key for key in MESSAGE_KEYS})
Language = StrEnum("Language", {language.replace("-", "_"): language for language in LANGUAGES})
KeyPath = Annotated[MessageKey, Path(description="the message key")]
LanguagePath = Annotated[Language, Path(description="zh-CN or en")]
ERRORS = error_responses(401, 403, 409, 422)


class SmsTemplateOut(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "key": "service_request", "language": "zh-CN", "version": 2,
        "body": "【{{ insurer_name }}】尊敬的{{ customer_name }}：诚恳希望继续为您服务。服务经理{{ manager_name }}，电话"
                "{{ manager_phone }}。回{{ opt_out_reply }}退订",
        "created_by": "7d1e2c3b-4a59-4b6c-8d7e-9f0a1b2c3d4e", "created_at": "2026-02-11T02:00:00Z",
        "marketing": True, "required": ["manager_name", "manager_phone", "opt_out_reply"]}]}}
    key: str
    language: str
    version: int
    body: str = Field(description="Jinja2: {{ manager_name }}, {{ expiry_date | zh_date }} …")
    created_by: uuid.UUID | None = Field(description="who saved this version; null: shipped with the product")
    created_at: datetime
    marketing: bool = Field(description="a marketing text (营销短信): it must keep its opt-out line")
    required: list[str] = Field(description="placeholders the text must keep")


class TemplateIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "body": "【{{ insurer_name }}】尊敬的{{ customer_name }}：诚恳希望继续为您服务。服务经理{{ manager_name }}，"
                "电话{{ manager_phone }}。回{{ opt_out_reply }}退订"}]}}
    body: Text(2000, min_length=1)
    case_id: uuid.UUID | None = Field(default=None, description="the case to preview with; default: your newest")


class PreviewOut(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "body": "【中国人保财险】尊敬的钱**：诚恳希望继续为您服务。服务经理李四，电话13812348000。回T退订",
        "segments": 1, "encoding": "UCS-2", "case_id": "0b6f4f5e-2d7c-5a51-9c55-4a0f6f3c2d11"}]}}
    body: str = Field(description="rendered for the case, the customer's name and the plate masked")
    segments: int
    encoding: Encoding
    case_id: uuid.UUID


def _admin(staff: CurrentStaff) -> Staff:
    if staff.role != Role.admin:
        raise ApiError(403, "only a system specialist (admin) manages the SMS templates")
    return staff


Admin = Annotated[Staff, Depends(_admin)]


def _out(template: SmsTemplate) -> SmsTemplateOut:
    return SmsTemplateOut(**template.model_dump(include={"key", "language", "version", "body", "created_by",
                                                         "created_at"}),
                          marketing=template.key in MARKETING_KEYS, required=sorted(REQUIRED_PLACEHOLDERS[template.key]))


def _preview_case(session: Session, staff: Staff, case_id: uuid.UUID | None) -> RenewalCase:
    if case_id is not None:
        return find_case(session, staff, case_id)
    case = session.exec(select(RenewalCase).where(case_scope(staff)).order_by(RenewalCase.started_at.desc())
                        .limit(1)).first()
    if case is None:
        raise ApiError(409, "there is no case in your branch to preview the template with")
    return case


def _refused(refusal: TemplateRefused) -> ApiError:
    return ApiError(422, f"body: {refusal}", code="template_refused", field="body")


def preview_template(session: Session, staff: Staff, key: str, language: str, body: TemplateIn,
                     now: datetime) -> PreviewOut:
    case = _preview_case(session, staff, body.case_id)
    try:
        rendered = preview(session, key, language, body.body, case, case_today(case, now))
    except TemplateRefused as refusal:
        raise _refused(refusal) from None
    return PreviewOut(body=rendered.body, segments=rendered.segments, encoding=rendered.encoding, case_id=case.id)


def save_template(session: Session, staff: Staff, key: str, language: str, body: TemplateIn,
                  now: datetime) -> SmsTemplateOut:
    case = _preview_case(session, staff, body.case_id)
    try:
        return _out(save(session, key, language, body.body, case, case_today(case, now), staff.id, now))
    except TemplateRefused as refusal:
        raise _refused(refusal) from None


@router.get("", summary="The newest version of every SMS template", response_model=list[SmsTemplateOut],
            responses=error_responses(401, 403))
def list_templates(staff: Admin, session: SessionDep) -> list[SmsTemplateOut]:
    return [_out(template) for template in newest(session)]


@router.get("/{key}/{language}", summary="Every version of a template, newest first (who saved it and when)",
            response_model=list[SmsTemplateOut], responses=error_responses(401, 403, 422))
def template_versions(key: KeyPath, language: LanguagePath, staff: Admin, session: SessionDep) -> list[SmsTemplateOut]:
    return [_out(template) for template in versions(session, key.value, language.value)]


@router.post("/{key}/{language}/preview", summary="Render an edited template for a real case (masked), with its "
             "segment count; nothing is saved", response_model=PreviewOut, responses=ERRORS)
def preview_route(key: KeyPath, language: LanguagePath, body: TemplateIn, staff: Admin, session: SessionDep,
                  now: NowDep) -> PreviewOut:
    return preview_template(session, staff, key.value, language.value, body, now)


@router.put("/{key}/{language}", summary="Save an edited template as its new version", status_code=201,
            response_model=SmsTemplateOut, responses=ERRORS,
            description="Refused (422 `template_refused`, every reason) when the text does not render for the case, "
                        "drops a placeholder it must keep, uses one the send does not know, is longer than 4 "
                        "segments, or is a marketing text (quote, service request) without its opt-out line.")
def save_route(key: KeyPath, language: LanguagePath, body: TemplateIn, staff: Admin, session: SessionDep,
               now: NowDep) -> SmsTemplateOut:
    return save_template(session, staff, key.value, language.value, body, now)
