"""The migration linter (run by `.ci/run`): squawk reads the SQL that `alembic upgrade --sql` prints
for each revision on its own, which carries the limits env.py sets. Every revision is linted; what
a revision may do anyway is written in lint.toml with the reason, reviewed with the revision.

    uv run python migrations/lint.py          # prints each finding not accepted; exit 1 if any
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

HERE = Path(__file__).resolve().parent
RULES = tomllib.loads((HERE / "lint.toml").read_text())


def _config(output: io.StringIO | None = None) -> Config:
    config = Config(output_buffer=output)
    config.set_main_option("script_location", str(HERE))
    return config


def revisions() -> list[tuple[str, str]]:
    """(revision, the one before it or "base"), oldest first."""
    return [(s.revision, s.down_revision or "base")
            for s in reversed(list(ScriptDirectory.from_config(_config()).walk_revisions()))]


def revision_sql(revision: str, before: str) -> str:
    output = io.StringIO()
    command.upgrade(_config(output), f"{before}:{revision}", sql=True)
    return output.getvalue()


def findings(sql: str, accepted: dict[str, str]) -> list[str]:
    """squawk's findings in `sql` that are neither excluded everywhere nor `accepted`, as
    "line N: rule: message: statement"."""
    excluded = ",".join([*RULES["excluded"], *accepted])
    run = subprocess.run(["squawk", "--reporter", "json", "--stdin-filepath", "migration.sql",
                          f"--exclude={excluded}"], input=sql, capture_output=True, text=True, check=False)
    if run.returncode not in (0, 1) or not run.stdout.strip():
        raise RuntimeError(f"squawk failed: {run.stderr.strip()}")
    lines = sql.splitlines()
    return [f"line {f['line'] + 1}: {f['rule_name']}: {f['message']}: {lines[f['line']].strip()}"
            for f in json.loads(run.stdout)]


def lint() -> dict[str, list[str]]:
    """Each revision's findings not accepted (only revisions that have some)."""
    found = {}
    for revision, before in revisions():
        if problems := findings(revision_sql(revision, before), RULES["accepted"].get(revision, {})):
            found[revision] = problems
    return found


if __name__ == "__main__":
    found = lint()
    for revision, problems in found.items():
        for problem in problems:
            print(f"migration {revision}: {problem}")
    sys.exit(1 if found else 0)
