"""`renewals`: run the system, manage staff and the organisation, operate Temporal.

One Typer sub-app per capability, composed here. Every command starts by loading all of them, so
their modules import at the top only what is light; what a command runs (the database, Temporal,
the services, the API) it imports when it runs, or `renewals --help` would take seconds.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from renewals.cli import audit, intake, org, privacy, projection, reports, system, vehicle_models
from renewals.cli.common import err

EXIT_CODES = (
    "Exit codes: 0 done; 1 refused or not all done (an import with rejected rows, a replay that diverges, "
    "a change refused); 2 wrong usage or nothing to reach (an unknown option, bad settings, no database or "
    "Temporal: set DATABASE_URL and TEMPORAL_ADDRESS, or run `renewals dev`, which the other commands find)."
)
app = typer.Typer(help="Car-insurance renewal marketing system.", epilog=EXIT_CODES, no_args_is_help=True,
                  pretty_exceptions_enable=False)
app.add_typer(system.app)
app.add_typer(intake.app)
app.add_typer(org.staff_app, name="staff")
app.add_typer(org.org_app, name="org")
app.add_typer(system.temporal_app, name="temporal")
app.add_typer(vehicle_models.app, name="vehicle-models")
app.add_typer(audit.app, name="audit")
app.add_typer(projection.app, name="projection")
app.add_typer(reports.app, name="report")
app.add_typer(intake.intake_app, name="intake")
app.add_typer(privacy.app, name="privacy")


def main() -> None:
    """The `renewals` command. Any command that needs the database or Temporal and has none to
    reach says so in one line, without a traceback, and how to start one."""
    from renewals.core.db import NoDatabase  # start-up cost: the database driver loads only with a command
    from renewals.core.temporal import NoTemporal

    try:
        app()
    except (NoDatabase, NoTemporal) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(2)
