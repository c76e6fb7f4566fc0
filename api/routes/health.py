"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from api.errors import RETRY_AFTER_SECONDS

router = APIRouter(tags=["health"])
CHECK_TIMEOUT = 3.0


def _example(status: int, body: dict[str, str], description: str) -> dict[int, dict]:
    return {status: {"description": description, "content": {"application/json": {"example": body}}}}


@router.get("/healthz", summary="The process is up",
            responses=_example(200, {"status": "ok"}, "The process answers"))
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database and Temporal both answer",
    responses={**_example(200, {"status": "ready", "database": "ok", "temporal": "ok"}, "Ready to serve"),
               **_example(503, {"status": "not ready", "database": "unavailable: OperationalError",
                                "temporal": "ok"}, "A dependency is down; the body names which")},
)
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state

    def query_database() -> None:
        with state.engine.connect() as conn:
            conn.execute(text("select 1"))

    async def describe_namespace() -> None:
        client = await state.temporal()
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=state.settings.temporal_namespace),
            timeout=timedelta(seconds=CHECK_TIMEOUT),
        )

    checks = {}
    for name, check in (("database", asyncio.to_thread(query_database)), ("temporal", describe_namespace())):
        try:
            await asyncio.wait_for(check, timeout=CHECK_TIMEOUT)
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 — any failure means not ready; say which and why
            checks[name] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", **checks}, status_code=200 if ready else 503,
                        headers=None if ready else {"Retry-After": str(RETRY_AFTER_SECONDS)})
