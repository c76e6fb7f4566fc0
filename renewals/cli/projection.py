"""`renewals projection rebuild`: the case and task projection written again from the workflows."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from renewals.cli.common import console, err, fail, load_settings
from renewals.cli.output import progress_bar

app = typer.Typer(help="The case and task projection the API and the console read.", no_args_is_help=True)


@app.command("rebuild")
def rebuild(
    cases: Annotated[list[str] | None, typer.Option(
        "--case", help="A case's workflow id (renewal-…); repeat for several.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every case Temporal, the archive or the case table knows.")]
    = False,
    after: Annotated[str, typer.Option(
        "--after", help="Resume: skip the cases up to this workflow id (the last one a stopped run printed).")] = "",
) -> None:
    """Write the case and task rows again from each case's history: an open case's from Temporal, a
    closed case's from Temporal or, after retention, from the archive. Idempotent: what is in place
    stays; what is missing or behind is written as the workflow wrote it. Exits 1 when a case has no
    history left anywhere."""
    if bool(cases) == every:
        raise fail("name the cases with --case, or rebuild them all with --all", 2)
    # start-up cost (see renewals.cli.main)
    from activities.projection import CaseProjection
    from renewals.audit.rebuild import every_case, rebuild_projection
    from renewals.core.db import get_engine
    from renewals.core.temporal import connect

    settings = load_settings()
    engine = get_engine()

    async def run():
        client = await connect(settings)
        workflow_ids = await every_case(client, engine) if every else cases
        with progress_bar(console) as bar:
            task = bar.add_task("rebuilding cases", total=None)
            return await rebuild_projection(client, engine, workflow_ids, CaseProjection(engine).apply,
                                            after=after,
                                            progress=lambda done, total: bar.update(task, completed=done, total=total))

    try:
        rebuilt = asyncio.run(run())
    except KeyboardInterrupt:
        raise fail("stopped: run again with the same options to finish (every case rebuilt stays rebuilt)") from None
    console.print(f"{rebuilt.cases} cases rebuilt from {rebuilt.changes} changes (last: {rebuilt.last_workflow_id})")
    for workflow_id in rebuilt.refused:
        err.print(f"[yellow]{workflow_id}[/yellow]: a change the projection refused (as it did when the case ran)")
    if rebuilt.missing:
        raise fail(f"no history left for {len(rebuilt.missing)} cases: {', '.join(rebuilt.missing[:10])}")
