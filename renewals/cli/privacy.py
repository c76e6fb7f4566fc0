"""`renewals privacy …`: personal data (PIPL): the retention purge, a person's data on request, its
erasure, and the log of who saw a full id number or phone. The system operator's commands reach
every branch unless --branch names one."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from renewals.cli.common import console, err, fail, load_settings
from renewals.cli.output import FormatOption, emit
from renewals.reports.rules import Table

app = typer.Typer(help="Personal data: retention purge, export and erasure on request, the access log.",
                  no_args_is_help=True)
IdNumber = Annotated[str, typer.Option("--id-number", help="The person's resident id number.")]
BranchCode = Annotated[str | None, typer.Option("--branch", help="Only this branch's record of the person.")]


def _branch_id(session, code: str | None) -> uuid.UUID | None:
    from sqlmodel import select  # start-up cost (see renewals.cli.main)

    from models import Branch

    if code is None:
        return None
    branch_id = session.exec(select(Branch.id).where(Branch.code == code)).first()
    if branch_id is None:
        raise fail(f"--branch: no branch with code {code!r}", 2)
    return branch_id


@app.command()
def purge(dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be cleared; change nothing.")]
          = False, fmt: FormatOption = None) -> None:
    """Clear the personal data past its retention now, as `privacy-purge-daily` does every night
    (RETENTION_* settings). Running it again changes nothing."""
    # start-up cost (see renewals.cli.main)
    from renewals.core.db import get_engine
    from renewals.privacy.rules import Retention
    from renewals.privacy.service import purge as purge_personal_data

    settings = load_settings()
    counts = purge_personal_data(get_engine(), Retention.from_settings(settings), datetime.now(UTC),
                                 batch=settings.privacy_purge_batch, dry_run=dry_run)
    title = "would be cleared (dry run)" if dry_run else "cleared"
    emit(Table(title, ["data", "rows"], [[name, str(count)] for name, count in counts.items()]), fmt, console)


@app.command()
def export(id_number: IdNumber, branch: BranchCode = None,
           output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the document here.")] = None
           ) -> None:
    """Everything held about the person, as one JSON document (PIPL Art. 45); recorded."""
    # start-up cost (see renewals.cli.main)
    from renewals.core.db import session_scope
    from renewals.privacy.service import NoSuchPerson, export_person

    load_settings()
    with session_scope() as session:
        try:
            document = export_person(session, id_number, branch_id=_branch_id(session, branch), requested_by=None,
                                     now=datetime.now(UTC))
        except NoSuchPerson as exc:
            raise fail(str(exc)) from None
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        console.file.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"{len(document['records'])} record(s) written to {output}")


@app.command()
def erase(id_number: IdNumber, branch: BranchCode = None) -> None:
    """Anonymise the person on their request (PIPL Art. 47), where no duty to keep their data
    applies: refused while a case of theirs is open or a policy in force. Recorded either way."""
    # start-up cost (see renewals.cli.main)
    from renewals.core.db import session_scope
    from renewals.intake.service import local_today
    from renewals.privacy.service import NoSuchPerson, erase_person

    settings = load_settings()
    now = datetime.now(UTC)
    with session_scope() as session:
        try:
            result = erase_person(session, id_number, branch_id=_branch_id(session, branch), requested_by=None,
                                  today=local_today(settings, now), now=now)
        except NoSuchPerson as exc:
            raise fail(str(exc)) from None
    for customer_id in result.erased:
        console.print(f"customer {customer_id}: anonymised")
    for customer_id, reasons in result.refused.items():
        err.print(f"customer {customer_id}: refused: {'; '.join(reasons)}")
    if result.refused:
        raise typer.Exit(1)


@app.command()
def views(customer: Annotated[uuid.UUID | None, typer.Option(help="A customer's id: who saw their data.")] = None,
          reader: Annotated[str | None, typer.Option(help="A staff member's username: what they saw.")] = None,
          fmt: FormatOption = None) -> None:
    """The access log: each time a customer's full id number or phone was shown, to whom and when."""
    from sqlmodel import select  # start-up cost (see renewals.cli.main)

    from models import Staff
    from renewals.core.db import session_scope
    from renewals.privacy.service import full_views

    if (customer is None) == (reader is None):
        raise fail("give --customer or --reader", 2)
    load_settings()
    with session_scope() as session:
        reader_id = None
        if reader is not None:
            reader_id = session.exec(select(Staff.id).where(Staff.username == reader)).first()
            if reader_id is None:
                raise fail(f"--reader: no staff member {reader!r}", 2)
        rows = full_views(session, customer_id=customer, reader_id=reader_id)
    emit(Table("full id numbers and phones shown", ["at", "reader", "customer", "field"],
               [[row.viewed_at.isoformat(), str(row.reader_id or "cli"), str(row.customer_id), row.field]
                for row in rows]), fmt, console)
