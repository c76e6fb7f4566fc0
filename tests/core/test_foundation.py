"""The ground everything stands on: schema, settings, readiness, the CLI's staff commands."""

from __future__ import annotations

import socket

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel
from typer.testing import CliRunner

import models  # noqa: F401
from api.main import create_app
from renewals.cli.main import app as cli
from renewals.core.db import make_engine, migrate
from renewals.core.settings import DEV_JWT_SECRET, Settings
from tests.conftest import fresh_database
from tests.core.test_production_settings import PROD


def test_migrations_create_the_whole_schema_from_empty(pg):
    url = fresh_database(pg, "migrate_from_empty", migrated=False)
    engine = make_engine(url)
    assert inspect(engine).get_table_names() == []
    migrate(url)
    tables = set(inspect(engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    indexes = {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("task")}
    assert indexes["ix_task_assignee_state_opens"] == ["assignee_id", "state", "opens_at"]
    with engine.connect() as conn:  # the migration and the models agree: nothing left to generate
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
    engine.dispose()


def test_prod_refuses_default_secrets():
    with pytest.raises(ValueError, match="JWT_SECRET is the development default"):
        Settings(_env_file=None, environment="prod", database_url="postgresql://db/x", temporal_address="t:7233")
    assert Settings(**PROD).environment == "prod"


def test_cli_prints_one_line_for_a_refused_prod_configuration(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "prod")
    monkeypatch.setenv("JWT_SECRET", DEV_JWT_SECRET)
    from renewals.core.settings import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["worker"])
    get_settings.cache_clear()
    assert result.exit_code == 2
    assert "configuration error" in result.output and "JWT_SECRET" in result.output


async def test_readyz_answers_200_when_database_and_temporal_answer(settings, engine, time_env):
    app = create_app(settings, engine=engine, temporal=time_env.client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "database": "ok", "temporal": "ok"}


async def test_readyz_names_the_database_when_it_is_down(settings, pg, time_env):
    down = make_engine(pg.url("no_such_database"))
    app = create_app(settings, engine=down, temporal=time_env.client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503 and int(ready.headers["Retry-After"]) > 0
    body = ready.json()
    assert body["database"].startswith("unavailable") and body["temporal"] == "ok"


def test_staff_and_org_commands(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    from renewals.core.db import get_engine
    from renewals.core.settings import get_settings

    get_settings.cache_clear()
    get_engine.cache_clear()
    runner = CliRunner()
    try:
        assert runner.invoke(cli, ["org", "add", "--branch", "3100", "--branch-name", "上海分公司",
                                   "--sub-branch", "310101", "--sub-branch-name", "黄浦支公司"]).exit_code == 0
        added = runner.invoke(cli, ["staff", "add", "li.si", "--name", "李四", "--role", "sales",
                                    "--phone", "13812348000", "--sub-branch", "310101", "--password", "s3cret-pass"])
        assert added.exit_code == 0, added.output
        bad = runner.invoke(cli, ["staff", "add", "wang.wu", "--name", "王五", "--role", "deputy",
                                  "--phone", "12345", "--sub-branch", "310101", "--password", "s3cret-pass"])
        assert bad.exit_code == 1 and "phone" in bad.output
        missing = runner.invoke(cli, ["staff", "add", "zhao", "--name", "赵六", "--role", "sales",
                                      "--phone", "13812348001", "--sub-branch", "999999", "--password", "x"])
        assert missing.exit_code == 1 and "sub_branch" in missing.output
        listed = runner.invoke(cli, ["staff", "list"], terminal_width=200)
        assert "li.si" in listed.output and "138****8000" in listed.output and "13812348000" not in listed.output
        assert runner.invoke(cli, ["staff", "deactivate", "li.si"]).exit_code == 0
        assert "li.si" not in runner.invoke(cli, ["staff", "list"], terminal_width=200).output
        assert "li.si" in runner.invoke(cli, ["staff", "list", "--all"], terminal_width=200).output
    finally:
        get_settings.cache_clear()
        get_engine.cache_clear()


def test_dev_refuses_a_taken_port_with_one_line(monkeypatch, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("API_PORT", str(port))
        monkeypatch.setenv("DATA_DIR", str(tmp_path))
        from renewals.core.settings import get_settings

        get_settings.cache_clear()
        result = CliRunner().invoke(cli, ["dev"])
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert f"port {port} is already in use: set API_PORT" in result.output
    assert not (tmp_path / "pg").exists(), "nothing is started when a port is taken"


async def test_search_attributes_are_registered_once_and_listed(dev_env):
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    from renewals.core.temporal import register_search_attributes
    from renewals.case.contract import SEARCH_ATTRIBUTES

    namespace = dev_env.client.namespace
    assert await register_search_attributes(dev_env.client, namespace, SEARCH_ATTRIBUTES) == [], "already there: nothing added"
    listed = await dev_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace))
    assert {key.name for key in SEARCH_ATTRIBUTES} <= set(listed.custom_attributes)
    assert sum(1 for key in SEARCH_ATTRIBUTES if key.indexed_value_type.name == "KEYWORD") <= 10
