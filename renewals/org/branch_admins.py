"""Which system specialists (admins) a case accepts close and reassign from.

A case records its branch's admins in its input (RenewalInput.admin_ids) and the workflow refuses
an admin action from anyone else, so an actor made up by someone who reached Temporal directly is
detected. When an admin joins or leaves a branch, every open case of the branch is told the new
list (the `branch_admins` signal): a rare event, one signal per open case of that branch.
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from models import Branch, RenewalCase, Role, Staff, SubBranch
from renewals.case import contract as c

PAGE = 500


def branch_admin_ids(session: Session, branch_code: str) -> list[uuid.UUID]:
    """The active admins of the branch, oldest first (the first gets needs-attention tasks)."""
    return list(session.exec(
        select(Staff.id).join(Branch, Branch.id == Staff.branch_id)
        .where(Branch.code == branch_code, Staff.role == Role.admin, Staff.active)
        .order_by(Staff.created_at, Staff.id)).all())


def admins_of_branches(engine: Engine, branches: set[str]) -> dict[str, list[uuid.UUID]]:
    with Session(engine) as session:
        return {branch: branch_admin_ids(session, branch) for branch in branches}


def _open_cases_page(engine: Engine, branch_code: str, after: str) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(
            select(RenewalCase.workflow_id).join(SubBranch, SubBranch.id == RenewalCase.sub_branch_id)
            .join(Branch, Branch.id == SubBranch.branch_id)
            .where(Branch.code == branch_code, RenewalCase.outcome.is_(None), RenewalCase.workflow_id > after)
            .order_by(RenewalCase.workflow_id).limit(PAGE)).all())


async def publish_branch_admins(client: Client, engine: Engine, branch_code: str) -> int:
    """Tell every open case of the branch who its admins are now; returns how many were told."""
    admin_ids = (await asyncio.to_thread(admins_of_branches, engine, {branch_code}))[branch_code]
    admins = c.BranchAdmins(admin_ids=admin_ids)
    told, after = 0, ""
    while True:
        # A page at a time: a branch may have many open cases.
        page = await asyncio.to_thread(_open_cases_page, engine, branch_code, after)
        for workflow_id in page:
            try:
                await client.get_workflow_handle(workflow_id).signal("branch_admins", admins)
                told += 1
            except RPCError as exc:  # finished meanwhile
                if exc.status is not RPCStatusCode.NOT_FOUND:
                    raise
        if len(page) < PAGE:
            return told
        after = page[-1]
