"""The vehicle-model catalogue: row-checked parsing, all-or-nothing repeatable import, search."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sqlmodel import Session, delete, func, select, update
from typer.testing import CliRunner

from models import VehicleModel
from renewals.cli.main import app as cli
from renewals.core.db import make_engine, migrate
from renewals.dev.seed import SEEDED_MODEL
from renewals.quotes.vehicle_models import SAMPLE_FILE, parse_vehicle_models, search_vehicle_models
from tests.conftest import fresh_database

SAMPLE_BOOK = Path(__file__).resolve().parents[2] / "samples" / "policies-demo.csv"

HEADER = "code,name,brand,seats,purchase_price\n"


def test_rows_are_checked_and_errors_name_row_and_field():
    parsed = parse_vehicle_models(io.StringIO(
        HEADER + "svw7182qqd,朗逸,上汽大众,5,126900.00\n"
        "X,坏代码,品牌,5,1.00\n"
        "ABC123,名称,品牌,five,1.00\n"
        "ABC124,名称,品牌,5,12.345\n"
        "ABC125,名\x07称,品牌,5,1.00\n"
        "SVW7182QQD,重复,上汽大众,5,1.00\n"))
    assert [r["code"] for r in parsed.rows] == ["SVW7182QQD"]
    assert [(e.row, e.field) for e in parsed.errors] == [
        (2, "code"), (3, "seats"), (4, "purchase_price"), (5, "name"), (6, "code")]
    assert "repeats row 1" in parsed.errors[-1].reason
    missing = parse_vehicle_models(io.StringIO("code,name\nA1B,x\n"))
    assert missing.errors[0].reason == "missing column(s): brand, seats, purchase_price"


def test_cli_imports_the_sample_repeatably_and_refuses_a_bad_file_whole(database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database_url)
    from renewals.core.db import get_engine
    from renewals.core.settings import get_settings

    get_settings.cache_clear()
    get_engine.cache_clear()
    runner = CliRunner()
    try:
        sample_rows = len(SAMPLE_FILE.read_text(encoding="utf-8").splitlines()) - 1
        for _ in range(2):
            result = runner.invoke(cli, ["vehicle-models", "import", str(SAMPLE_FILE)])
            assert result.exit_code == 0, result.output
            assert f"imported {sample_rows} vehicle models" in result.output
        bad = tmp_path / "models.csv"
        bad.write_text(HEADER + "NEW001,新车,品牌,5,1000.00\nNEW002,新车,品牌,0,1000.00\n", encoding="utf-8")
        result = runner.invoke(cli, ["vehicle-models", "import", str(bad)], terminal_width=200)
        assert result.exit_code == 1 and "nothing imported" in result.output and "seats" in result.output
        with Session(get_engine()) as session:
            assert session.exec(select(func.count()).select_from(VehicleModel)).one() == sample_rows
            assert [m.code for m in search_vehicle_models(session, "svw7182qqd", 10)] == ["SVW7182QQD"]
            assert {m.brand for m in search_vehicle_models(session, "比亚迪", 10)} == {"比亚迪"}
            assert search_vehicle_models(session, "100%", 10) == []
    finally:
        get_settings.cache_clear()
        get_engine.cache_clear()


def test_the_shipped_catalogue_comes_with_the_schema_and_holds_the_demo_and_sample_models(pg):
    url = fresh_database(pg, "catalogue_with_schema", migrated=False)
    migrate(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            catalogue = set(session.exec(select(VehicleModel.code)).all())
            sample = {row["model_code"] for row in csv.DictReader(SAMPLE_BOOK.open(encoding="utf-8-sig"))}
            assert sample <= catalogue, f"sample models missing from the catalogue: {sample - catalogue}"
            assert SEEDED_MODEL in catalogue, "the demo's vehicles"
            # An operator's own catalogue is theirs: migrating again adds only what is missing.
            session.exec(update(VehicleModel).where(VehicleModel.code == SEEDED_MODEL).values(name="朗逸(本公司)"))
            session.exec(delete(VehicleModel).where(VehicleModel.code == "TSL7000BEVAR3"))
            session.commit()
        migrate(url)
        with Session(engine) as session:
            names = dict(session.exec(select(VehicleModel.code, VehicleModel.name)).all())
            assert names[SEEDED_MODEL] == "朗逸(本公司)" and "TSL7000BEVAR3" in names
    finally:
        engine.dispose()
