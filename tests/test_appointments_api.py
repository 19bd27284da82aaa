"""Loading bookings: POST /api/v1/appointments (managers) and `tongban appointments import` (docs/appointments.md)."""

from __future__ import annotations

import json

import jsonschema
import pytest
from click.testing import CliRunner

from tongban.cli import main
from tongban.config import load_hall_config
from tongban.queue.store import Store
from tongban.web.api.openapi import openapi_document

from .apiclient import make_hall_client
from .test_appointments import ID_NUMBER, booking

CONFIG = "config/demo-hall.toml"
DEMO_MATTER = load_hall_config(CONFIG).matters[0].code


@pytest.fixture
def hall(tmp_path, hall_config, clock):
    return make_hall_client(tmp_path, hall_config, clock)


def _check(response, status: int):
    """The answer has its status and matches the OpenAPI description of it."""
    assert response.status_code == status, response.get_json()
    doc = openapi_document()
    op = doc["paths"]["/api/v1/appointments"]["post"]
    schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": doc["components"]}).validate(response.get_json())
    return response.get_json()


def test_a_manager_books_rows_and_the_same_list_again_changes_nothing(hall):
    manager = hall.login("manager")
    rows = [booking(id_number=ID_NUMBER, phone="13812345678"), booking("20261126002")]
    body = _check(hall.call("POST", "/appointments", manager, json={"appointments": rows}), 201)
    assert body == {"added": 2, "unchanged": 0, "references": ["20261126001", "20261126002"]}
    again = _check(hall.call("POST", "/appointments", manager, json={"appointments": rows}), 201)
    assert (again["added"], again["unchanged"]) == (0, 2)


def test_bad_rows_are_refused_each_by_row_and_field_and_nothing_is_booked(hall):
    manager = hall.login("manager")
    rows = [booking(), booking("x"), {"reference": "123456", "matter": "M1", "slot_start": 5}]
    body = _check(hall.call("POST", "/appointments", manager, json={"appointments": rows}), 400)
    assert body["error"] == "invalid_appointments"
    assert {(p["row"], p["field"]) for p in body["problems"]} == {(2, "reference"), (3, "slot_start"), (3, "slot_end")}
    assert all(p["message_zh"] and p["message_en"].startswith(f"row {p['row']}, ") for p in body["problems"])
    store = Store(hall.app.config["DATABASE"])
    assert store.one("SELECT COUNT(*) FROM appointments")[0] == 0
    store.close()


@pytest.mark.parametrize(
    "payload", [None, [], {}, {"appointments": {}}, {"appointments": [1]}, {"appointments": [], "x": 1}, "[]"]
)
def test_a_bad_body_is_a_400_never_a_500(hall, payload):
    manager = hall.login("manager")
    if isinstance(payload, str):
        response = hall.call("POST", "/appointments", manager, data=payload, content_type="application/json")
    else:
        response = hall.call("POST", "/appointments", manager, json=payload)
    _check(response, 400)


def test_only_a_manager_may_book(hall):
    clerk = hall.login("clerk1", window=1)
    _check(hall.call("POST", "/appointments", clerk, json={"appointments": []}), 403)
    _check(hall.call("POST", "/appointments", hall.kiosk, json={"appointments": []}), 403)
    _check(hall.call("POST", "/appointments", json={"appointments": []}), 401)


# ---------- the command ----------


def _run(tmp_path, *args):
    return CliRunner().invoke(main, [*args, "--config", CONFIG, "--db", str(tmp_path / "cli.db")])


def test_the_command_imports_csv_and_json_and_reports_every_bad_row(tmp_path):
    # Bookings far ahead, so the test does not depend on today's date; a matter of the demo hall.
    demo_matter = DEMO_MATTER
    good = tmp_path / "good.csv"
    good.write_text(
        "reference,matter,slot_start,slot_end,id_number,phone\n"
        f"88880001,{DEMO_MATTER},2099-01-05 09:00,2099-01-05 09:30,{ID_NUMBER},13812345678\n",
        encoding="utf-8-sig",
    )
    result = _run(tmp_path, "appointments", "import", str(good))
    assert result.exit_code == 0, result.output
    assert "1 booked" in result.output

    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            [
                {"reference": "88880002", "matter": demo_matter, "slot_start": "2099-01-05 10:00"},
                {"reference": "88880003", "matter": "nope", "slot_start": "x", "slot_end": "2099-01-05 10:30"},
            ]
        ),
        encoding="utf-8",
    )
    result = _run(tmp_path, "appointments", "import", str(bad))
    assert result.exit_code == 1
    assert "row 1, slot_end: is missing" in result.output
    assert "row 2, matter:" in result.output and "row 2, slot_start:" in result.output
    assert "第 2 行 matter" in result.output

    listed = _run(tmp_path, "appointments", "list", "--day", "2099-01-05")
    assert "3201**********1238" in listed.output and "*******5678" in listed.output
    assert ID_NUMBER not in listed.output and "13812345678" not in listed.output
    assert "88880002" not in listed.output  # the bad file booked nothing
    assert "cancelled" in _run(tmp_path, "appointments", "cancel", "88880001").output
