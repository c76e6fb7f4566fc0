"""A refused command says why on stderr, so that stdout, redirected to a file, holds only results."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from renewals.cli.main import app as cli
from renewals.core.db import get_engine
from renewals.core.settings import get_settings


@pytest.fixture
def runner(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()
    get_engine.cache_clear()


@pytest.mark.parametrize("args, said", [
    (["org", "deputy", "999999", "nobody"], "no sub-branch 999999 and no staff member nobody"),
    (["staff", "reassign-book", "nobody", "--to", "no.one"], "no staff member nobody, no.one"),
    (["staff", "tasks", "nobody"], "no staff member nobody"),
])
def test_a_refusal_goes_to_stderr_not_stdout(runner, args, said):
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert said in " ".join(result.stderr.split())
    assert result.stdout == ""
