"""One JSON shape for every error the API answers, so clients handle errors in one place:

    {"error": {"status": 409, "code": "rejected", "message": "...", "field": null}}

`field` names the offending input for 422s (the first one; `details` lists them all).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from renewals.cases import CaseRejected
from renewals.staff import StaffError

# Where a request value came from; not part of the field's name.
_LOCATIONS = {"body", "query", "path", "header", "cookie", "form"}
_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "rejected", 413: "too_large", 422: "invalid", 429: "too_many_requests",
          500: "internal_error", 502: "provider_error", 503: "unavailable"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, code: str | None = None, field: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.headers = status, message, field, headers
        self.code = code or _CODES.get(status, "error")


class FieldProblem(BaseModel):
    field: str | None
    message: str


class ErrorDetail(BaseModel):
    status: int = Field(examples=[409])
    code: str = Field(examples=["rejected"])
    message: str = Field(examples=["status 'failed' cannot be set in FIRST_CONTACT"])
    field: str | None = Field(default=None, examples=[None])
    details: list[FieldProblem] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


# status: (what it means, example message, example field)
_EXAMPLES: dict[int, tuple[str, str, str | None]] = {
    401: ("Not signed in, or the token expired", "sign in first: send the bearer token from POST /auth/token", None),
    403: ("Not yours to see or do; ids beyond your scope get this same answer whether they exist or not",
          "no case with this id is in your scope", None),
    404: ("No such id (only for auditors, whose scope is everything)", "no case with this id", None),
    409: ("Refused by the case, with the reason", "status 'failed' cannot be set in FIRST_CONTACT: only success "
          "is allowed before THIRD_CONTACT (T-20) and after DEPUTY_SUPERVISION", None),
    422: ("Malformed request; `field` names the offending input", "phone: '12345' is not a valid phone number",
          "phone"),
    413: ("The request body is larger than the API accepts", "the request body is larger than 1048576 bytes",
          None),
    429: ("Too many failed sign-ins; `Retry-After` says when to try again",
          "too many failed sign-ins: try again in 42 s", None),
    500: ("An unexpected error; quote the request id when reporting it",
          "internal error (request 9f1c0e4ab2d34c7e8a1f5b6c7d8e9f00)", None),
    502: ("Twilio could not place the call", "the call could not be placed: Twilio did not answer", None),
    503: ("PostgreSQL or Temporal cannot be reached now; `Retry-After` says when to try again",
          "the database is unavailable: try again shortly", None),
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries in the shared shape, each with an example."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        meaning, message, field = _EXAMPLES[status]
        example = _body(status, _CODES[status], message, field)
        responses[status] = {"model": ErrorBody, "description": meaning,
                             "content": {"application/json": {"example": example}}}
    return responses


def _body(status: int, code: str, message: str, field: str | None = None,
          details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"status": status, "code": code, "message": message, "field": field}
    if details:
        error["details"] = details
    return {"error": error}


def _field_of(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in _LOCATIONS]
    return ".".join(parts) or None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(_body(exc.status, exc.code, exc.message, exc.field), exc.status, headers=exc.headers)

    @app.exception_handler(CaseRejected)
    async def case_rejected(_: Request, exc: CaseRejected) -> JSONResponse:
        return JSONResponse(_body(409, "rejected", exc.reason), 409)

    @app.exception_handler(StaffError)
    async def staff_error(_: Request, exc: StaffError) -> JSONResponse:
        # StaffError messages start with the field they are about ("phone: ...").
        message = str(exc)
        field = message.partition(":")[0] if ":" in message else None
        return JSONResponse(_body(422, "invalid", message, field), 422)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": _field_of(tuple(e.get("loc", ()))), "message": e.get("msg", "invalid")}
                   for e in exc.errors()]
        first = details[0] if details else {"field": None, "message": "invalid request"}
        message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        return JSONResponse(_body(422, "invalid", message, first["field"], details), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        return JSONResponse(_body(status, _CODES.get(status, "error"), str(exc.detail)), status,
                            headers=getattr(exc, "headers", None))
