"""A refused form, shown again: the reason in the page's language next to the field it is about,
and everything that was typed filled back in. Every console page renders its refusals through
`problem` and the `forms.html` macros."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from api.errors import ApiError, template_refusal
from renewals.case.start import CaseRejected
from renewals.case.sms_templates import TemplateRefused
from renewals.core.phones import FieldError
from renewals.org.service import HandlerCodeTaken
from renewals.quotes.service import QuoteRefused


class FieldProblem(Exception):
    """A form value the console refuses before asking the API: `key` names its words."""

    def __init__(self, field: str, key: str):
        super().__init__(key)
        self.field, self.key = field, key


@dataclass(frozen=True)
class Problem:
    form: str  # which form of the page was refused (its action)
    field: str | None  # the input it is about, as the form names it
    message: str  # in the page's language
    values: Mapping[str, str | list[str]] = field(default_factory=dict)  # what was typed

    def typed(self, form: str, name: str, default: object = "") -> object:
        """What the refused form held in `name`; `default` for any other form."""
        return self.values.get(name, "") if form == self.form else default

    def chosen(self, form: str, name: str) -> list[str]:
        """A multiple choice's values as sent (all of them, for checkboxes and multi-selects)."""
        value = self.values.get(name, []) if form == self.form else []
        return [value] if isinstance(value, str) else list(value)


# The API's own field names, as far as they differ from the form's.
_FORM_FIELD = {"new_owner_id": "to", "start": "from", "end": "to"}


def _field_of(exc: Exception) -> str | None:
    if isinstance(exc, FieldProblem):
        return exc.field
    if isinstance(exc, ValidationError):
        location = exc.errors()[0].get("loc", ())
        return str(location[0]) if location else None
    if isinstance(exc, ApiError):
        return exc.field
    if isinstance(exc, FieldError):  # "phone: not a valid phone number" names its field first
        name, sep, _ = str(exc).partition(":")
        return name if sep and name.isidentifier() else None
    return None


def _english(exc: Exception) -> str:
    if isinstance(exc, CaseRejected):
        return exc.reason
    if isinstance(exc, ApiError):
        return exc.message
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return str(first.get("msg", "invalid"))
    return str(exc)


def problem(exc: Exception, t: Callable[..., str], form: str, values: Mapping[str, object] | None = None) -> Problem:
    """The refusal `exc` of `form` in words `t` has: by its code (`error.<code>`), else by its
    field (`error.<field>`); the reason as the API gave it when neither has words."""
    field_name = _field_of(exc)
    field_name = field_name.split(".")[0] if field_name else None  # "family.1": the family field
    field_name = _FORM_FIELD.get(field_name, field_name) if field_name else None
    code = getattr(exc, "code", None) or getattr(exc, "key", None)
    message = None
    for key in (f"error.{code}" if code else None, f"error.{field_name}" if field_name else None):
        if key and t(key) != key:
            message = t(key)
            break
    typed = {name: (values.getlist(name) if hasattr(values, "getlist") and len(values.getlist(name)) > 1
                    else values.get(name)) for name in values} if values else {}
    return Problem(form, field_name, message or _english(exc),
                   {name: value for name, value in typed.items() if isinstance(value, (str, list))})


REFUSALS = (FieldProblem, ValidationError, ApiError, CaseRejected, FieldError)


def refusal_status(exc: Exception) -> int:
    """The status the API answers the same refusal with (api/errors.py)."""
    if isinstance(exc, TemplateRefused):
        exc = template_refusal(exc)
    if isinstance(exc, ApiError):
        return exc.status
    if isinstance(exc, QuoteRefused) and exc.field:  # a quote id or setting the case cannot use is bad input
        return 422
    return 409 if isinstance(exc, (CaseRejected, HandlerCodeTaken)) else 422
