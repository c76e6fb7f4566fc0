"""What every `renewals` command shares: where it prints, how it loads its settings, how it refuses."""

from __future__ import annotations

import typer
from rich.markup import escape

from renewals.cli import output
from renewals.core.settings import Settings, get_settings
from renewals.dev.stack import attach

# Results go to stdout (a file or a pipe may hold them); progress, notes and errors to stderr.
console = output.console()
err = output.console(stderr=True)
DAY = ["%Y-%m-%d"]


def load_settings(*, beside_dev: bool = True) -> Settings:
    """This run's settings; with DATABASE_URL or TEMPORAL_ADDRESS unset and a `renewals dev`
    running on DATA_DIR, that stack's servers and day (said on stderr: stdout may be a file)."""
    try:
        settings = get_settings()
        stack = attach(settings) if beside_dev else None
        if stack is not None:
            own_day = settings.day_seconds if "day_seconds" in settings.model_fields_set else None
            get_settings.cache_clear()
            settings = get_settings()
            err.print(f"using {escape(stack.describe())}", highlight=False)
            if own_day not in (None, stack.day_seconds):
                err.print(f"[yellow]DAY_SECONDS={own_day} not used:[/yellow] a stack runs on one day, its own")
        return settings
    except ValueError as exc:  # pydantic's ValidationError: a readable line, not a traceback
        err.print(f"[red]configuration error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None


def fail(message: str, code: int = 1) -> typer.Exit:
    """Say on stderr why the command stops; raise what this returns (exit 1: refused, 2: wrong usage)."""
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)
