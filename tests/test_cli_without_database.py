"""Every command that needs the database says, without a traceback, that DATABASE_URL is not set."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from renewals.cli import app
from renewals.db import get_engine
from renewals.settings import get_settings


@pytest.mark.parametrize(("args", "exit_code"), [
    (["migrate"], 1),
    (["audit", "timeline", "PDAA0001"], 1),
    (["report", "renewals"], 2),
])
def test_a_command_without_a_database_url_names_it_and_stops(args, exit_code, monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    finally:
        get_settings.cache_clear()
        get_engine.cache_clear()
    assert result.exit_code == exit_code, result.output
    assert "DATABASE_URL is not set" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
