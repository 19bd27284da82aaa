"""A case handed from one hall to another through a real district (PostgreSQL, the district app
over HTTP): the receiving hall sees it in its case list, the sending hall's case page and the
citizen's status page follow its state there, the district forgets the personal data once the
receiver has it, and one hall cannot read or acknowledge another's inbox."""

from __future__ import annotations

import json
import re

import psycopg
import pytest

from tongban.config import parse_hall_config
from tongban.devices import catalogue_pull, handoff_sync
from tongban.devices.district_client import DistrictClient, DistrictUnavailable
from tongban.district import catalogue as district_catalogue
from tongban.district.app import create_district_app
from tongban.queue import cases as domain
from tongban.queue import catalogue
from tongban.queue.store import Store

from ..apiclient import csrf_token, make_hall_client
from ..conftest import small_hall_doc
from ..test_cases_pages import ADDRESS, ID_1, PHONE_1, Desk, served_ticket
from ._district import add_hall, serving
from .test_catalogue import catalogue_doc


class Hall:
    """One hall: its web app, its hall file, and its devices process's exchange with the district."""

    def __init__(self, tmp_path, hall_id: str, clock):
        doc = small_hall_doc()
        doc["hall"]["id"] = hall_id
        self.config = parse_hall_config(doc, hall_id)
        folder = tmp_path / hall_id
        folder.mkdir()
        self.web = make_hall_client(folder, self.config, clock)
        self.db = self.web.app.config["DATABASE"]
        self.clock = clock
        catalogue_pull.install(self.config, self.db)

    def exchange(self, base_url: str, token: str) -> None:
        store = Store(self.db, migrate=False)
        try:
            handoff_sync.exchange(DistrictClient(base_url, token), store, self.clock)
        finally:
            store.close()

    def case(self, case_id: int) -> domain.Case:
        store = Store(self.db, migrate=False)
        try:
            return domain.get(store, case_id)
        finally:
            store.close()


def _directory_at(hall: Hall, district_url: str, base_url: str, token: str) -> None:
    """The district's windows directory in use at ``hall`` (its picker lists the other halls)."""
    doc = catalogue_doc()
    doc["windows_directory"].append(
        {
            "hall": "bureau-1",
            "hall_name": "区人社局服务大厅",
            "window": "3",
            "name_zh": "3号窗口",
            "location_zh": "人民路1号",
        }
    )
    with psycopg.connect(district_url) as conn:
        district_catalogue.publish(conn, doc)
    store = Store(hall.db, migrate=False)
    try:
        catalogue_pull.exchange(DistrictClient(base_url, token), store, hall.clock)
        assert catalogue.apply_pending(store, hall.config, hall.clock, actor="manager")["result"] == "applied"
    finally:
        store.close()


def _synced(district_url: str, hall: Hall, hall_id: str, case_id: int) -> None:
    """The receiving hall's case row as its sync pushes it (the district core's ingest upserts it so)."""
    c = hall.case(case_id)
    body = {
        "uid": f"case-{c.id}",
        "number": c.number,
        "state": c.state,
        "origin_hall": c.origin_hall,
        "origin_case_uid": c.origin_case_uid,
        "applicant_masked": c.masked["name"],
    }
    with psycopg.connect(district_url) as conn:
        conn.execute(
            "INSERT INTO cases (hall, uid, number, mode, matter, state, opened_day, updated_at, body)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, now(), %s)"
            " ON CONFLICT (hall, uid) DO UPDATE SET state = excluded.state, body = excluded.body,"
            " updated_at = excluded.updated_at",
            (hall_id, body["uid"], c.number, c.mode, c.matter, c.state, c.opened_day, json.dumps(body)),
        )


def _handoff_row(district_url: str) -> dict:
    with psycopg.connect(district_url) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        return cur.execute("SELECT * FROM handoffs").fetchone()


def test_a_case_handed_from_a_street_hall_to_a_bureau_follows_the_citizen(district_url, tmp_path, clock):
    tokens = {h: add_hall(district_url, h) for h in ("street-1", "bureau-1", "other-3")}
    street, bureau = Hall(tmp_path, "street-1", clock), Hall(tmp_path, "bureau-1", clock)
    with serving(district_url) as base_url:
        _directory_at(street, district_url, base_url, tokens["street-1"])

        # The street hall receives the case, then hands it on from the case page.
        desk = Desk(street.web, "clerk2", 2)
        case_id = desk.open_case(served_ticket(street.web, "M3"), materials={0: 1, 1: 1})
        page = desk.client.get(f"/cases/{case_id}").get_data(as_text=True)
        assert "转交其他大厅" in page and '<option value="bureau-1">区人社局服务大厅</option>' in page
        assert 'value="street-1"' not in page  # not to itself
        r = desk.client.post(
            f"/cases/{case_id}/handoff",
            data={"csrf_token": csrf_token(page), "to_hall": "bureau-1", "to_window": "3号窗口"},
        )
        assert r.status_code == 303
        sent = street.case(case_id)
        assert sent.state == "handed_off" and sent.remote_state == "in_transit"
        status_url = f"/c/{sent.token}"
        public = street.web.app.test_client().get(status_url).get_data(as_text=True)
        assert "本件已转交 区人社局服务大厅 办理，当前状态：转交途中" in public
        assert "张" not in public and PHONE_1 not in public

        street.exchange(base_url, tokens["street-1"])
        held = _handoff_row(district_url)
        assert held["body"]["applicant_name"] == "张三" and held["applicant_masked"] == "张*"

        # Another hall's token sees nothing of it and cannot acknowledge it.
        other = DistrictClient(base_url, tokens["other-3"])
        assert other.get_json("/api/v1/handoffs/inbox") == {"handoffs": []}
        with pytest.raises(DistrictUnavailable) as refused:
            other.post_json(f"/api/v1/handoffs/{held['id']}/ack", {"number": "X"})
        assert refused.value.status == 404
        assert other.get_json("/api/v1/handoffs/status") == {"handoffs": []}

        # The bureau takes it into its case list, with the applicant's data, and acknowledges it.
        bureau.exchange(base_url, tokens["bureau-1"])
        bureau.exchange(base_url, tokens["bureau-1"])  # again: still one case
        clerk = Desk(bureau.web, "clerk2", 2)
        listing = clerk.client.get("/cases").get_data(as_text=True)
        assert listing.count('data-handoff-from="street-1"') == 1
        received_id = int(re.search(r'href="/cases/(\d+)"', listing).group(1))
        received = bureau.case(received_id)
        assert (received.applicant_name, received.id_number, received.phone, received.address) == (
            "张三",
            ID_1,
            PHONE_1,
            ADDRESS,
        )
        assert (
            received.state == "received" and received.due_day == sent.due_day and received.origin_number == sent.number
        )
        assert [m["received"] for m in received.materials] == [1, 1]

        # Gone from the district: nothing personal left in the row.
        held = _handoff_row(district_url)
        assert held["body"] is None and held["acked_at"] is not None
        assert not any(s in json.dumps(held, default=str) for s in ("张三", ID_1, PHONE_1, ADDRESS))

        # The street hall follows it: received there, then checked once the bureau's sync reports it.
        street.exchange(base_url, tokens["street-1"])
        assert (street.case(case_id).remote_state, street.case(case_id).remote_number) == ("received", received.number)
        clerk.step(
            received_id,
            "check",
            identity_method="card_reader",
            identity_ok="yes",
            review_outcome="pass",
            material_0="on",
            copies_0="1",
            material_1="on",
            copies_1="1",
        )
        _synced(district_url, bureau, "bureau-1", received_id)
        street.exchange(base_url, tokens["street-1"])
    assert street.case(case_id).remote_state == "checked"
    page = desk.client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "对方办理状态：已审核" in page and f"对方案件号：{received.number}" in page
    public = street.web.app.test_client().get(status_url).get_data(as_text=True)
    assert "当前状态：已审核" in public


def test_bad_hand_offs_are_named_refusals(district_url, tmp_path, clock):
    token = add_hall(district_url, "street-1")
    http = create_district_app(district_url).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert http.post("/api/v1/handoffs", json={}).status_code == 401
    for body in (None, [], {"uid": "x"}, {"uid": "0" * 16, "to_hall": "nowhere", "case": {}}):
        r = http.post("/api/v1/handoffs", json=body, headers=auth)
        assert r.status_code == 400 and r.get_json()["error"] == "bad_handoff", body
    case = {"origin_case_uid": "0" * 16, "number": "KS-1", "matter": "M3"}
    r = http.post("/api/v1/handoffs", json={"uid": "0" * 16, "to_hall": "nowhere", "case": case}, headers=auth)
    assert r.status_code == 400 and r.get_json()["error"] == "unknown_hall" and r.get_json()["message_zh"]
    r = http.post("/api/v1/handoffs", json={"uid": "0" * 16, "to_hall": "street-1", "case": case}, headers=auth)
    assert r.get_json()["error"] == "unknown_hall"  # not to itself
    nul = {"uid": "0" * 16, "to_hall": "other", "case": {**case, "number": "KS\x00"}}
    assert http.post("/api/v1/handoffs", json=nul, headers=auth).get_json()["error"] == "bad_handoff"
    for bad_id in ("abc", "²", "9" * 30):
        assert http.post(f"/api/v1/handoffs/{bad_id}/ack", json={}, headers=auth).status_code == 400
    assert http.post("/api/v1/handoffs/1/ack", json={"number": "\x00"}, headers=auth).status_code == 400
    assert http.post("/api/v1/handoffs/999/ack", json={}, headers=auth).status_code == 404

    # At the hall: a case can only be handed on before it is sent, and to another hall.
    hall = Hall(tmp_path, "street-1", clock)
    desk = Desk(hall.web, "clerk2", 2)
    case_id = desk.open_case(served_ticket(hall.web, "M3"), materials={0: 1, 1: 1})
    page = desk.client.get(f"/cases/{case_id}").get_data(as_text=True)
    for to_hall in ("", "street-1", "Not An Id"):
        r = desk.client.post(f"/cases/{case_id}/handoff", data={"csrf_token": csrf_token(page), "to_hall": to_hall})
        assert r.status_code == 422 and "请选择区内另一个大厅" in r.get_data(as_text=True)
    assert hall.case(case_id).state == "received"

    # Handed to a hall the district does not know: the district refuses it, and the case comes back.
    r = desk.client.post(
        f"/cases/{case_id}/handoff", data={"csrf_token": csrf_token(page), "to_hall": "nowhere", "to_window": ""}
    )
    assert r.status_code == 303 and hall.case(case_id).state == "handed_off"
    with serving(district_url) as base_url:
        hall.exchange(base_url, token)
    back = hall.case(case_id)
    assert back.state == "received" and back.target_hall is None and back.closed_day is None
    page = desk.client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "区平台拒收转交" in page and "转交其他大厅" in page
    with psycopg.connect(district_url) as conn:
        assert conn.execute("SELECT count(*) FROM handoffs").fetchone()[0] == 0

    desk.step(case_id, "withdraw", withdrawn_reason="applicant")
    r = desk.client.post(f"/cases/{case_id}/handoff", data={"csrf_token": csrf_token(page), "to_hall": "bureau-1"})
    assert r.status_code == 409 and hall.case(case_id).state == "withdrawn"
