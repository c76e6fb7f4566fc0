"""Every command that needs the database says, without a traceback, that DATABASE_URL is not set
and no `renewals dev` is running, and how to start one; `renewals --help` says what exit codes mean."""

from __future__ import annotations

import sys

import pytest

from renewals.cli.main import main
from renewals.core.db import get_engine
from renewals.core.settings import get_settings


def run_main(args: list[str], monkeypatch, tmp_path, capsys) -> tuple[int, str, str]:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("TEMPORAL_ADDRESS", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here, no `renewals dev` data directory
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
    return stopped.value.code, out.out, out.err


@pytest.mark.parametrize("args", [
    ["migrate"],
    ["audit", "timeline", "PDAA0001"],
    ["report", "renewals"],
    ["import", "book.csv"],
    ["staff", "list"],
])
def test_a_command_without_a_database_says_how_to_start_one(args, monkeypatch, tmp_path, capsys):
    (tmp_path / "book.csv").write_text("policy_no\n", encoding="utf-8")
    code, out, err = run_main(args, monkeypatch, tmp_path, capsys)
    assert code == 2, (out, err)
    assert "DATABASE_URL is not set" in err and "Traceback" not in out + err
    assert f"no `renewals dev` is running with its data in {tmp_path / '.data'}" in err
    assert "uv run renewals dev" in err


def test_a_wrong_command_is_a_usage_error_not_a_database_one(monkeypatch, tmp_path, capsys):
    code, out, err = run_main(["intake", "assign-unowned"], monkeypatch, tmp_path, capsys)
    assert code == 2 and "DATABASE_URL" not in out + err


def test_help_says_what_the_exit_codes_mean(monkeypatch, tmp_path, capsys):
    code, out, _ = run_main(["--help"], monkeypatch, tmp_path, capsys)
    assert code == 0
    said = " ".join(out.split())
    assert "Exit codes: 0 done; 1 refused or not all done (an import with rejected rows" in said
    assert "2 wrong usage or nothing to reach" in said
    code, out, _ = run_main(["import", "--help"], monkeypatch, tmp_path, capsys)
    assert "Exits 1 when any row is rejected" in " ".join(out.split())
