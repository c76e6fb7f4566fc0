"""One JSON shape for every error the API answers, so clients handle errors in one place:

    {"error": {"status": 409, "code": "rejected", "message": "...", "field": null}}

`field` names the offending input for 422s (the first one; `details` lists them all).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from renewals.case.sms_templates import TemplateRefused
from renewals.case.start import CaseRejected
from renewals.core.phones import FieldError
from renewals.quotes.service import QuoteRefused

log = logging.getLogger(__name__)
# How long a client should wait before retrying when PostgreSQL or Temporal is unreachable.
RETRY_AFTER_SECONDS = 5
_UNAVAILABLE_RPC = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED)

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


class DependencyUnavailable(Exception):
    """PostgreSQL or Temporal cannot be reached: the API answers 503 with Retry-After."""

    def __init__(self, what: str):
        super().__init__(f"{what} is unavailable")
        self.what = what


class FieldProblem(BaseModel):
    field: str | None
    message: str


class ErrorDetail(BaseModel):
    status: int = Field(examples=[409])
    code: str = Field(examples=["rejected"])
    message: str = Field(examples=["status 'failed' cannot be set in FIRST_CONTACT"])
    field: str | None = Field(default=None, examples=[None])
    details: list[FieldProblem] | None = None
    request_id: str | None = Field(default=None, description="on 500 and 503: quote it when reporting the error")


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
    400: ("The body cannot be read (not UTF-8, not JSON or not a form)", "There was an error parsing the body",
          None),
    413: ("The request body is larger than the API accepts", "the request body is larger than 1048576 bytes",
          None),
    429: ("Too many failed sign-ins; `Retry-After` says when to try again",
          "too many failed sign-ins: try again in 42 s", None),
    500: ("An unexpected error; quote the request id when reporting it",
          "internal error (request 9f1c0e4ab2d34c7e8a1f5b6c7d8e9f00)", None),
    502: ("Twilio could not place the call: the reason and what to do",
          "your phone number on record cannot be called (Twilio error 21211): nothing was dialled; ask the "
          "branch's system specialist to correct it", None),
    503: ("PostgreSQL or Temporal cannot be reached now, or a staff action was not done within its deadline; "
          "`Retry-After` says when to try again (with the same Idempotency-Key, an action is applied once)",
          "the database is unavailable: try again shortly", None),
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries in the shared shape, each with an example."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        meaning, message, field = _EXAMPLES[status]
        example = error_body(status, _CODES[status], message, field)
        responses[status] = {"model": ErrorBody, "description": meaning,
                             "content": {"application/json": {"example": example}}}
    return responses


def error_body(status: int, code: str, message: str, field: str | None = None,
               details: list[dict[str, Any]] | None = None, request_id: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"status": status, "code": code, "message": message, "field": field}
    if details:
        error["details"] = details
    if request_id:
        error["request_id"] = request_id
    return {"error": error}


def unavailable_response(message: str, request_id: str | None) -> JSONResponse:
    """503 with Retry-After: PostgreSQL or Temporal cannot be reached, or did not answer in time."""
    return JSONResponse(error_body(503, "unavailable", message, request_id=request_id), 503,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _field_of(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in _LOCATIONS]
    return ".".join(parts) or None


def template_refusal(refusal: TemplateRefused) -> ApiError:
    return ApiError(422, f"body: {refusal}", code="template_refused", field="body")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.status, exc.code, exc.message, exc.field), exc.status, headers=exc.headers)

    @app.exception_handler(CaseRejected)
    async def case_rejected(_: Request, exc: CaseRejected) -> JSONResponse:
        return JSONResponse(error_body(409, "rejected", exc.reason), 409)

    @app.exception_handler(QuoteRefused)
    async def quote_refused(_: Request, exc: QuoteRefused) -> JSONResponse:
        # A refused attempt is kept: Location names it. A quote id the case does not have is bad input.
        status = 422 if exc.field else 409
        headers = {"Location": f"/quotes/{exc.quote_id}"} if exc.quote_id else None
        return JSONResponse(error_body(status, exc.code, exc.reason, exc.field), status, headers=headers)

    @app.exception_handler(TemplateRefused)
    async def template_refused(request: Request, exc: TemplateRefused) -> JSONResponse:
        return await api_error(request, template_refusal(exc))

    @app.exception_handler(FieldError)
    async def field_error(_: Request, exc: FieldError) -> JSONResponse:
        # Their messages start with the field they are about ("phone: ...").
        message = str(exc)
        field = message.partition(":")[0] if ":" in message else None
        return JSONResponse(error_body(422, "invalid", message, field), 422)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": _field_of(tuple(e.get("loc", ()))), "message": e.get("msg", "invalid")}
                   for e in exc.errors()]
        first = details[0] if details else {"field": None, "message": "invalid request"}
        message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        return JSONResponse(error_body(422, "invalid", message, first["field"], details), 422)

    def unavailable(request: Request, what: str, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        log.warning("%s unavailable (%s) [request %s]", what, type(exc).__name__, request_id)
        return unavailable_response(f"{what} is unavailable: try again shortly", request_id)

    @app.exception_handler(DependencyUnavailable)
    async def dependency_unavailable(request: Request, exc: DependencyUnavailable) -> JSONResponse:
        return unavailable(request, exc.what, exc)

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if isinstance(exc, (OperationalError, InterfaceError)) or exc.connection_invalidated:
            return unavailable(request, "the database", exc)
        raise exc  # a bug, not an outage: the catch-all answers 500

    @app.exception_handler(PoolTimeout)
    async def database_busy(request: Request, exc: PoolTimeout) -> JSONResponse:
        return unavailable(request, "the database", exc)

    @app.exception_handler(RPCError)
    async def temporal_error(request: Request, exc: RPCError) -> JSONResponse:
        if exc.status in _UNAVAILABLE_RPC:
            return unavailable(request, "Temporal", exc)
        raise exc

    @app.exception_handler(WorkflowUpdateRPCTimeoutOrCancelledError)
    async def temporal_timeout(request: Request, exc: WorkflowUpdateRPCTimeoutOrCancelledError) -> JSONResponse:
        return unavailable(request, "Temporal", exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        return JSONResponse(error_body(status, _CODES.get(status, "error"), str(exc.detail)), status,
                            headers=getattr(exc, "headers", None))


# Statuses every operation can answer, whatever its route declares: the input guard (422), the
# catch-all (500), an unreachable PostgreSQL or Temporal (503); with a body, also an unreadable
# body (400) and the body bound (413).
COMMON_STATUSES = (422, 500, 503)
BODY_STATUSES = (400, 413)
_UNGUARDED = {"/healthz"}  # answers from the process alone


def document_common_errors(app: FastAPI) -> None:
    """Make the OpenAPI list those statuses on every operation, in the one error shape (FastAPI's
    own 422 schema, which this API never answers, is replaced)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        common = {str(status): entry for status, entry in error_responses(*COMMON_STATUSES, *BODY_STATUSES).items()}
        for entry in common.values():
            entry["content"]["application/json"]["schema"] = {"$ref": "#/components/schemas/ErrorBody"}
            del entry["model"]
        for path, operations in schema.get("paths", {}).items():
            if path in _UNGUARDED:
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, entry in common.items():
                    if int(status) in BODY_STATUSES and "requestBody" not in operation:
                        continue
                    if status not in responses or "HTTPValidationError" in str(responses[status]):
                        responses[status] = entry
        return schema

    app.openapi = openapi
