"""SMS templates (营销模板管理): the admin reads the newest version of each, previews an edit rendered
for a real case (masked) with its segment count, and saves it as a new version (who and when kept).
The next SMS of that key and language uses it and records its version."""

from __future__ import annotations

from fastapi import APIRouter

from api.access import TemplateAdmin, case_to_preview
from api.deps import NowDep, SessionDep, SettingsDep
from api.errors import error_responses
from api.inputs import KeyPath, LanguagePath
from api.schemas import PreviewOut, SmsTemplateOut, TemplateIn, preview_out, template_out
from renewals.case.sms_templates import newest, preview, save, versions
from renewals.quotes.service import case_today

router = APIRouter(prefix="/sms-templates", tags=["sms templates"])
ERRORS = error_responses(401, 403, 409, 422)


@router.get("", summary="The newest version of every SMS template", response_model=list[SmsTemplateOut],
            responses=error_responses(401, 403))
def list_templates(staff: TemplateAdmin, session: SessionDep) -> list[SmsTemplateOut]:
    return [template_out(template) for template in newest(session)]


@router.get("/{key}/{language}", summary="Every version of a template, newest first (who saved it and when)",
            response_model=list[SmsTemplateOut], responses=error_responses(401, 403, 422))
def template_versions(key: KeyPath, language: LanguagePath, staff: TemplateAdmin, session: SessionDep) -> list[SmsTemplateOut]:
    return [template_out(template) for template in versions(session, key.value, language.value)]


@router.post("/{key}/{language}/preview", summary="Render an edited template for a real case (masked), with its "
             "segment count; nothing is saved", response_model=PreviewOut, responses=ERRORS)
def preview_route(key: KeyPath, language: LanguagePath, body: TemplateIn, staff: TemplateAdmin, session: SessionDep,
                  settings: SettingsDep, now: NowDep) -> PreviewOut:
    case = case_to_preview(session, staff, body.case_id)
    rendered = preview(session, key.value, language.value, body.body, case, case_today(case, now),
                       settings.public_base_url)
    return preview_out(rendered, case.id)


@router.put("/{key}/{language}", summary="Save an edited template as its new version", status_code=201,
            response_model=SmsTemplateOut, responses=ERRORS,
            description="Refused (422 `template_refused`, every reason) when the text does not render for the case, "
                        "drops a placeholder it must keep, uses one the send does not know, is longer than 4 "
                        "segments, or is a marketing text (quote, service request) without its opt-out line.")
def save_route(key: KeyPath, language: LanguagePath, body: TemplateIn, staff: TemplateAdmin, session: SessionDep,
               settings: SettingsDep, now: NowDep) -> SmsTemplateOut:
    case = case_to_preview(session, staff, body.case_id)
    return template_out(save(session, key.value, language.value, body.body, case, case_today(case, now),
                             settings.public_base_url, staff.id, now))
