"""The district's catalogue, from `district catalogue publish` to the hall's kiosk: published only
when it passes check-config's rules, pulled by the hall, checked against the hall's own lines, held
as pending, and applied at the roll-over or when the manager accepts it — without restarting the web.
A bad one is refused with the checker's messages, and the hall keeps what it had."""

from __future__ import annotations

import copy
import json

import psycopg
import pytest
from click.testing import CliRunner

from tongban.config import ConfigError, parse_hall_config
from tongban.devices import catalogue_pull
from tongban.devices.district_client import DistrictClient, DistrictUnavailable
from tongban.devices.process import DevicesProcess
from tongban.district import catalogue as district_catalogue
from tongban.district.app import create_district_app
from tongban.queue import catalogue
from tongban.queue.store import Store

from ..apiclient import make_hall_client
from ..conftest import small_hall_doc
from ..test_cases_pages import sign_in
from ._district import add_hall, serving


def catalogue_doc() -> dict:
    """The small hall's departments and matters as the district publishes them, M1 renamed and a
    matter the small hall does not offer (another hall's)."""
    doc = small_hall_doc()
    matters = copy.deepcopy(doc["matters"])
    matters[0]["name_zh"] = "失业登记（跨省通办）"
    matters[0]["name_en"] = "Unemployment registration (cross-province)"
    matters.append({**matters[2], "code": "M9", "name_zh": "公积金异地转移", "name_en": "Fund transfer"})
    return {
        "departments": doc["departments"],
        "matters": matters,
        "windows_directory": [
            {
                "hall": "street-1",
                "hall_name": "一街道便民服务中心",
                "window": "3",
                "name_zh": "跨省通办窗口",
                "name_en": "Cross-province window",
                "location_zh": "一街道长江路5号",
                "phone": "0571-3",
                "hours": "工作日 9:00-17:00",
                "matters": ["M1", "M9"],
            }
        ],
    }


def _publish(url: str, doc: dict, note: str = "") -> str:
    with psycopg.connect(url) as conn:
        return district_catalogue.publish(conn, doc, note=note)


def test_publish_checks_with_check_configs_rules(district_url, tmp_path):
    bad = catalogue_doc()
    bad["matters"][1]["department"] = "nope"
    bad["matters"][2]["batch"] = 7
    with pytest.raises(district_catalogue.CatalogueRefused) as refused:
        _publish(district_url, bad)
    # Word for word what check-config says about the same matters in a hall file.
    hall = small_hall_doc()
    hall["matters"] = bad["matters"][:3]
    with pytest.raises(ConfigError) as checked:
        parse_hall_config(hall, "hall.toml")
    same = [p for p in checked.value.problems if p.startswith("matters[")]
    assert same and [p for p in refused.value.problems if p.startswith("matters[")] == same
    assert "matters[1].department: 'nope' is not a department (expected one of the [[departments]] codes)" in same

    # The command: a bad file is refused with every message and nothing stored; a good one is published.
    runner = CliRunner()
    bad_file = tmp_path / "bad.json"
    bad_file.write_text(json.dumps(bad, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(district_catalogue.catalogue_command, ["publish", str(bad_file), "--db", district_url])
    assert result.exit_code == 1 and "matters[2].batch: is 7 (expected 1, 2 or 3)" in result.output
    good_file = tmp_path / "catalogue.toml"
    good_file.write_text(_toml(catalogue_doc()), encoding="utf-8")
    result = runner.invoke(
        district_catalogue.catalogue_command, ["publish", str(good_file), "--db", district_url, "--note", "批次一"]
    )
    assert result.exit_code == 0, result.output
    with psycopg.connect(district_url) as conn:
        rows = conn.execute("SELECT body, note FROM catalogue_versions").fetchall()
    assert len(rows) == 1 and rows[0][1] == "批次一" and rows[0][0]["matters"][3]["code"] == "M9"


def _toml(doc: dict) -> str:
    def value(v):
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v, ensure_ascii=False)

    out = []
    for key, items in doc.items():
        for item in items:
            out.append(f"[[{key}]]")
            out.extend(f"{k} = {value(v)}" for k, v in item.items())
            out.append("")
    return "\n".join(out)


def test_halls_get_it_with_their_token_and_an_etag(district_url):
    token = add_hall(district_url, "street-1")
    version = _publish(district_url, catalogue_doc())
    http = create_district_app(district_url).test_client()
    assert http.get("/api/v1/catalogue").status_code == 401
    assert http.get("/api/v1/catalogue", headers={"Authorization": "Bearer wrong"}).get_json()["error"] == "bad_token"
    auth = {"Authorization": f"Bearer {token}"}
    got = http.get("/api/v1/catalogue", headers=auth)
    assert got.status_code == 200 and got.get_json()["version"] == version and got.headers["ETag"] == f'"{version}"'
    assert http.get("/api/v1/catalogue", headers={**auth, "If-None-Match": f'"{version}"'}).status_code == 304
    with psycopg.connect(district_url) as conn:
        conn.execute("UPDATE halls SET revoked_at = now() WHERE id = 'street-1'")
    assert http.get("/api/v1/catalogue", headers=auth).status_code == 401


@pytest.fixture
def hall(tmp_path, hall_config, clock):
    client = make_hall_client(tmp_path, hall_config, clock)
    catalogue_pull.install(hall_config, client.app.config["DATABASE"])
    return client


def _db(hall) -> str:
    return hall.app.config["DATABASE"]


def _pull(base_url: str, token: str, hall, clock) -> None:
    store = Store(_db(hall), migrate=False)
    try:
        catalogue_pull.exchange(DistrictClient(base_url, token), store, clock)
    finally:
        store.close()


def _info(hall) -> str:
    return hall.app.test_client().get("/info").get_data(as_text=True)


def test_pulled_pending_then_accepted_by_the_manager_without_a_restart(district_url, hall, hall_config, clock):
    token = add_hall(district_url, "test-hall")
    version = _publish(district_url, catalogue_doc())
    with serving(district_url) as base_url:
        _pull(base_url, token, hall, clock)
        _pull(base_url, token, hall, clock)  # the second answer is a 304: nothing changes
    assert "失业登记（跨省通办）" not in _info(hall)  # pending is not applied
    manager = sign_in(hall, "manager")
    page = manager.get("/manage/").get_data(as_text=True)
    assert f'data-catalogue-pending="{version}"' in page
    assert "失业登记 → 失业登记（跨省通办）" in page  # renamed, and M9 is not this hall's
    assert "公积金异地转移" not in page

    csrf = _csrf(page)
    answer = manager.post("/manage/catalogue/accept", headers={"X-CSRFToken": csrf})
    assert answer.status_code == 200 and f"区事项目录版本 {version} 已启用" in answer.get_data(as_text=True)
    info = _info(hall)
    assert "失业登记（跨省通办）" in info and "一街道便民服务中心" in info  # the same web app, its next request
    assert "公积金异地转移" not in info
    page = manager.get("/manage/").get_data(as_text=True)
    assert f'data-catalogue-applied="{version}"' in page and "data-catalogue-pending" not in page
    again = manager.post("/manage/catalogue/accept", headers={"X-CSRFToken": csrf})
    assert again.status_code == 409 and "没有待启用的区事项目录" in again.get_data(as_text=True)


def _csrf(page: str) -> str:
    import re

    return re.search(r'X-CSRFToken": "([^"]+)"', page).group(1)


def test_applied_at_the_roll_over_in_both_processes(district_url, hall, hall_config, clock):
    token = add_hall(district_url, "test-hall")
    version = _publish(district_url, catalogue_doc())
    with serving(district_url) as base_url:
        _pull(base_url, token, hall, clock)
    devices = DevicesProcess(hall_config, _db(hall), clock)
    store = Store(_db(hall), migrate=False)
    try:
        assert devices.service(store).config.matter("M1").name_zh == "失业登记"
        devices.roll_over()
        assert catalogue.applied_version(store) == version
        assert devices.service(store).config.matter("M1").name_zh == "失业登记（跨省通办）"
    finally:
        store.close()
    assert "失业登记（跨省通办）" in _info(hall)

    # A later version: a restart later the same day runs the roll-over again, which is not a new day.
    renamed = catalogue_doc()
    renamed["matters"][2]["name_zh"] = "退休提取公积金"
    newer = _publish(district_url, renamed)
    with serving(district_url) as base_url:
        _pull(base_url, token, hall, clock)
    clock.advance(hours=3)
    DevicesProcess(hall_config, _db(hall), clock).roll_over()
    assert "退休提取公积金" not in _info(hall)
    clock.advance(days=1)
    DevicesProcess(hall_config, _db(hall), clock).roll_over()
    assert "退休提取公积金" in _info(hall)
    store = Store(_db(hall), migrate=False)
    try:
        assert catalogue.status(store, hall_config)["applied"]["version"] == newer
    finally:
        store.close()


def test_a_bad_catalogue_is_refused_with_the_checkers_messages_and_the_old_one_kept(
    district_url, hall, hall_config, clock
):
    token = add_hall(district_url, "test-hall")
    good = _publish(district_url, catalogue_doc())
    lacking = catalogue_doc()
    with serving(district_url) as base_url:
        _pull(base_url, token, hall, clock)
        store = Store(_db(hall), migrate=False)
        catalogue.apply_pending(store, hall_config, clock, actor="manager")
        store.close()
        # The district drops M3, which this hall's line B still offers.
        lacking["matters"] = [m for m in lacking["matters"] if m["code"] != "M3"]
        bad = _publish(district_url, lacking)
        _pull(base_url, token, hall, clock)
    problem = "lines[1].matters[0]: 'M3' is not a matter (expected a [[matters]] code)"
    # The same words check-config gives a hall file whose line B names a matter it lacks.
    doc = small_hall_doc()
    doc["matters"] = [m for m in doc["matters"] if m["code"] != "M3"]
    with pytest.raises(ConfigError) as checked:
        parse_hall_config(doc, "hall.toml")
    assert problem in checked.value.problems

    store = Store(_db(hall), migrate=False)
    try:
        assert catalogue.applied_version(store) == good
        assert catalogue.status(store, hall_config)["refused"]["problems"] == [problem]
        assert catalogue.apply_pending(store, hall_config, clock, actor="roll-over") == {"result": "nothing"}
    finally:
        store.close()
    page = sign_in(hall, "manager").get("/manage/").get_data(as_text=True)
    assert f'data-catalogue-refused="{bad}"' in page and "&#39;M3&#39; is not a matter" in page
    assert "失业登记（跨省通办）" in _info(hall) and "正常退休提取住房公积金" in _info(hall)

    # The hall's IT person takes M3 out of line B and restarts the devices process: the refused
    # version is checked again against the edited file, and now it fits.
    edited = small_hall_doc()
    edited["matters"] = [m for m in edited["matters"] if m["code"] != "M3"]
    edited["lines"][0]["matters"], edited["lines"][1]["matters"] = ["M2"], ["M1"]
    fixed = parse_hall_config(edited, "hall.toml")
    with serving(district_url) as base_url:
        _pull(base_url, token, hall, clock)  # same process, same file: a 304, still refused
        store = Store(_db(hall), migrate=False)
        assert catalogue.status(store, hall_config)["pending"] is None
        store.close()
        catalogue_pull.install(fixed, _db(hall))
        _pull(base_url, token, hall, clock)
    store = Store(_db(hall), migrate=False)
    try:
        now = catalogue.status(store, fixed)
        assert now["pending"]["version"] == bad and now["refused"] is None
    finally:
        store.close()


def test_district_away_is_one_named_failure(hall, clock):
    with pytest.raises(DistrictUnavailable):
        _pull("http://127.0.0.1:9", "t", hall, clock)
