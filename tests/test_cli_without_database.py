"""Every command that needs the database says, without a traceback, that DATABASE_URL is not set."""

from __future__ import annotations

import sys

import pytest

from renewals.cli import main
from renewals.db import get_engine
from renewals.settings import get_settings


@pytest.mark.parametrize(("args", "exit_code"), [
    (["migrate"], 1),
    (["audit", "timeline", "PDAA0001"], 1),
    (["report", "renewals"], 2),
    (["import", "book.csv"], 1),
    (["staff", "list"], 1),
    (["intake", "assign-unowned"], None),  # not a command: usage, not the database
])
def test_a_command_without_a_database_url_names_it_and_stops(args, exit_code, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    (tmp_path / "book.csv").write_text("policy_no\n", encoding="utf-8")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(sys, "argv", ["renewals", *args])
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        with pytest.raises(SystemExit) as stopped:  # the `renewals` command, as installed
            main()
    finally:
        get_settings.cache_clear()
        get_engine.cache_clear()
    out = capsys.readouterr()
    if exit_code is None:
        assert stopped.value.code == 2 and "DATABASE_URL" not in out.out + out.err
        return
    assert stopped.value.code == exit_code, out
    assert "DATABASE_URL is not set" in out.out and "Traceback" not in out.out + out.err
