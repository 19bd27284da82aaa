"""The hall's outbox for district sync (docs/architecture.md §District sync): triggers write the
change in the change's own transaction, bodies as the protocol gives them (cases masked), uids set
once, generations on restore, on a copied file and on an acknowledgement beyond our rows."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.test_cases import APPLICANT, ID, PHONE, open_case
from tongban.config import CasesConfig
from tongban.devices.sync_worker import join_command
from tongban.ops.backup import restore, take_backup
from tongban.queue import outbox
from tongban.queue.cases import CaseService
from tongban.queue.store import Store
from tongban.queue.workdays import load_calendar

CN_2026 = Path(__file__).resolve().parents[2] / "config" / "holidays-cn-2026.toml"
UID = re.compile(r"^[0-9a-f]{16}$")


def rows(store: Store, kind: str | None = None) -> list[dict]:
    found = store.all("SELECT * FROM outbox ORDER BY seq")
    out = [{**dict(r), "body": json.loads(r["body"])} for r in found]
    return [r for r in out if kind is None or r["kind"] == kind]


@pytest.fixture
def cases(store, hall_config, clock, service):
    cfg = replace(hall_config, cases=CasesConfig(retention_days=30, near_due_days=2, calendar=load_calendar([CN_2026])))
    return CaseService(store, cfg, clock)


def test_a_ticket_and_its_events_reach_the_outbox_with_uids(service, store):
    service.window_action(1, "open", clerk="clerk1")
    t = service.take_ticket(matter="M1").ticket
    service.call_next(1, clerk="clerk1")
    ticket_uid = store.one("SELECT uid FROM tickets WHERE id = ?", (t.id,))["uid"]
    assert UID.match(ticket_uid)
    tickets = rows(store, "ticket")
    assert [r["body"]["state"] for r in tickets] == ["waiting", "called"]
    assert all(r["key"] == ticket_uid and r["body"]["uid"] == ticket_uid for r in tickets)
    assert set(tickets[0]["body"]) == {
        "uid", "id", "service_day", "prefix", "seq", "number", "line", "matter", "state", "green",
        "green_reason", "transferred", "issued_at", "called_at", "finished_at", "window", "clerk", "kiosk",
    }  # fmt: skip
    events = rows(store, "event")
    issue = next(r for r in events if r["body"]["action"] == "issue")
    assert issue["body"]["ticket_uid"] == ticket_uid and isinstance(issue["body"]["data"], dict)
    assert issue["body"]["undone_uid"] is None and UID.match(issue["key"])
    assert tickets[0]["body"]["green"] is False and tickets[0]["body"]["transferred"] is False
    window = [r for r in rows(store, "window") if r["key"] == "1"][-1]["body"]
    assert window["state"] == "open" and window["clerk"] == "clerk1" and isinstance(window["serving"], list)
    seqs = [r["seq"] for r in rows(store)]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # contiguous


def test_an_undo_names_the_event_it_undid(service, store):
    service.window_action(1, "open", clerk="clerk1")
    t = service.take_ticket(matter="M1").ticket
    service.call_next(1, clerk="clerk1")
    service.act(t.id, "no_show", window=1, actor="clerk1")
    service.undo(t.id, window=1, actor="clerk1")
    events = {r["body"]["action"]: r["body"] for r in rows(store, "event")}
    assert events["undo"]["undone_uid"] == events["no_show"]["uid"]


def test_a_rolled_back_action_leaves_no_outbox_row(service, store):
    service.take_ticket(line="A")
    before = rows(store)
    with pytest.raises(RuntimeError), store.immediate():
        service.take_ticket(line="A")  # joins the transaction: ticket, event and their outbox rows
        raise RuntimeError("the print job could not be queued")
    assert rows(store) == before
    assert store.one("SELECT COUNT(*) FROM tickets")[0] == 1


def test_updates_that_change_no_ticket_field_the_district_reads_send_nothing(service, store):
    t = service.take_ticket(line="A").ticket
    before = len(rows(store))
    store.conn.execute("UPDATE tickets SET rated = 1 WHERE id = ?", (t.id,))
    assert len(rows(store)) == before


def test_cases_leave_masked(cases, store):
    case = open_case(cases)
    cases.act(case.id, "check", actor="clerk2", window=2, form={
        "identity_method": "card_reader", "identity_ok": "yes", "review_outcome": "pass",
        "material_0": "on", "copies_0": "1", "material_1": "on", "copies_1": "1",
    })  # fmt: skip
    bodies = [r["body"] for r in rows(store) if r["kind"] in ("case", "case_event")]
    assert bodies
    text = json.dumps([r["body"] for r in rows(store)], ensure_ascii=False)
    for secret in (APPLICANT["applicant_name"], ID, PHONE, APPLICANT["address"], "文三路"):
        assert secret not in text
    body = rows(store, "case")[-1]["body"]
    assert body["applicant_masked"] == "张*" and body["phone_last4"] == PHONE[-4:]
    assert body["number"] == case.number and body["state"] == "checked"
    case_uid = store.one("SELECT uid FROM cases WHERE id = ?", (case.id,))["uid"]
    assert {r["body"]["case_uid"] for r in rows(store, "case_event")} == {case_uid}


def test_uids_are_set_once(service, store):
    t = service.take_ticket(line="A").ticket
    uid = store.one("SELECT uid FROM tickets WHERE id = ?", (t.id,))["uid"]
    service.window_action(1, "open", clerk="clerk1")
    service.call_next(1, clerk="clerk1")
    assert store.one("SELECT uid FROM tickets WHERE id = ?", (t.id,))["uid"] == uid
    with pytest.raises(sqlite3.IntegrityError, match="set once"):
        store.conn.execute("UPDATE tickets SET uid = 'ffffffffffffffff' WHERE id = ?", (t.id,))
    with pytest.raises(sqlite3.IntegrityError, match="set once"):
        store.conn.execute("UPDATE events SET uid = NULL")
    uids = [r[0] for r in store.all("SELECT uid FROM events")]
    assert len(set(uids)) == len(uids) and all(UID.match(u) for u in uids)


def test_an_existing_file_gets_uids_and_its_windows_at_migration(tmp_path, hall_config, clock):
    from tongban.queue.service import HallService
    from tongban.queue.store import migrations

    path = tmp_path / "old.db"
    old = Store(path, migrate=False)
    with old.immediate():
        migrations.apply(old.db, stop_before="m017_outbox")  # the file as it was before the outbox
    HallService(old, hall_config, clock).sync_with_config()
    old.conn.execute(
        "INSERT INTO tickets (token, service_day, prefix, seq, number, line, state, issued_at, queued_at)"
        " VALUES ('t', '2026-11-25', 'A', 1, 'A001', 'A', 'expired', 'x', 'x')"
    )
    assert "uid" not in {r["name"] for r in old.all("PRAGMA table_info(tickets)")}
    old.close()
    migrated = Store(path, backup_dir=tmp_path / "b")
    try:
        assert UID.match(migrated.one("SELECT uid FROM tickets")["uid"])
        assert {r["key"] for r in rows(migrated, "window")} == {str(w.number) for w in hall_config.windows}
    finally:
        migrated.close()


def test_restore_starts_a_new_generation(tmp_path, service, store):
    service.take_ticket(line="A")
    first = outbox.ensure_generation(store, outbox.file_identity(store.path))
    good = take_backup(store.path, tmp_path / "b")
    store.close()
    restore(good, store.path, tmp_path / "b")
    again = Store(store.path)
    try:
        after = outbox.ensure_generation(again, outbox.file_identity(again.path))
        assert after.generation != first.generation and after.acked == 0
        batch = outbox.pending(again, 500)
        # Every retained row again, numbered from 1 in the new generation.
        assert [c["seq"] for c in batch.changes] == list(range(1, len(rows(again)) + 1))
    finally:
        again.close()


def test_a_copied_file_starts_a_new_generation(tmp_path, service, store):
    service.take_ticket(line="A")
    first = outbox.ensure_generation(store, outbox.file_identity(store.path))
    assert outbox.ensure_generation(store, outbox.file_identity(store.path)) == first  # same file, same one
    store.close()
    copy = tmp_path / "copy.db"
    shutil.copy(store.path, copy)
    other = Store(copy)
    try:
        assert outbox.ensure_generation(other, outbox.file_identity(copy)).generation != first.generation
    finally:
        other.close()


def test_an_ack_beyond_our_rows_starts_a_new_generation(service, store, clock):
    service.take_ticket(line="A")
    batch = outbox.pending(store, 500)
    n = len(batch.changes)
    ok = outbox.record_ack(store, batch.generation, n, clock.now())
    assert (ok.generation, ok.acked, ok.new_generation) == (batch.generation, n, False)
    assert outbox.pending(store, 500).changes == []
    ahead = outbox.record_ack(store, batch.generation, n + 40, clock.now())
    assert ahead.new_generation and ahead.generation != batch.generation and ahead.acked == 0
    resend = outbox.pending(store, 500)
    assert resend.generation == ahead.generation and [c["seq"] for c in resend.changes] == list(range(1, n + 1))


def test_status_backlog_and_prune(service, store, clock):
    assert not outbox.status(store, clock.now()).joined
    for _ in range(3):
        service.take_ticket(line="A")
    outbox.join(store, "https://district.example/", "t" * 43)
    batch = outbox.pending(store, 2)
    outbox.record_ack(store, batch.generation, 2, clock.now())
    state = outbox.status(store, clock.now() + timedelta(seconds=90))
    assert state.joined and state.url == "https://district.example" and state.success_age_s == 90
    assert state.backlog == len(rows(store)) - 2
    store.conn.execute("UPDATE outbox SET at = '2000-01-01T00:00:00.000000+00:00'")
    assert outbox.prune(store, clock.now()) == 2  # acknowledged and old only
    assert outbox.pending(store, 500).changes[0]["seq"] == 3  # the rest still follows on


def test_a_hall_not_joined_drops_old_rows_and_sends_the_rest_in_a_new_generation(service, store, clock):
    service.take_ticket(line="A")
    first = outbox.pending(store, 500).generation
    store.conn.execute("UPDATE outbox SET at = '2000-01-01T00:00:00.000000+00:00'")
    old = len(rows(store))
    service.take_ticket(line="A")
    assert outbox.prune(store, clock.now()) == old
    batch = outbox.pending(store, 500)
    assert batch.generation != first and batch.changes[0]["seq"] == 1 and len(batch.changes) == len(rows(store))


def test_day_summaries_are_written_once(service, store, clock, hall_config):
    service.take_ticket(line="A")
    clock.advance(days=1)
    assert outbox.summarize_days(store, hall_config, clock.now()) == ["2026-11-26"]
    assert outbox.summarize_days(store, hall_config, clock.now()) == []
    summary = rows(store, "day_summary")
    assert len(summary) == 1 and summary[0]["key"] == "2026-11-26"
    assert summary[0]["body"]["totals"]["issued"] == 1


def test_join_stores_the_district_and_masks_the_token(tmp_path, store):
    token = "s3cr3t-" + "x" * 30 + "WXYZ"
    join = CliRunner().invoke
    result = join(join_command, ["--url", "https://d.example:8443/", "--token", token, "--db", store.path])
    assert result.exit_code == 0, result.output
    assert token not in result.output and "WXYZ" in result.output
    assert outbox.district(store) == ("https://d.example:8443", token)
    bad = CliRunner().invoke(join_command, ["--url", "ftp://d.example", "--token", token, "--db", store.path])
    assert bad.exit_code != 0 and "--url" in bad.output and "http" in bad.output and token not in bad.output
    short = CliRunner().invoke(join_command, ["--url", "https://d.example", "--token", "abc", "--db", store.path])
    assert short.exit_code != 0 and "--token" in short.output
    nowhere = str(tmp_path / "no.db")
    missing = join(join_command, ["--url", "https://d.example", "--token", token, "--db", nowhere])
    assert missing.exit_code != 0 and "--db" in missing.output


def test_the_roll_over_job_writes_yesterdays_summary_and_prunes(service, store, clock, hall_config):
    from tongban.devices.process import DevicesProcess

    service.take_ticket(line="A")
    outbox.join(store, "https://district.example", "t" * 43)
    batch = outbox.pending(store, 500)
    outbox.record_ack(store, batch.generation, len(batch.changes), clock.now())
    store.conn.execute("UPDATE outbox SET at = '2000-01-01T00:00:00.000000+00:00'")
    clock.advance(days=1)
    DevicesProcess(hall_config, store.path, clock).roll_over()
    assert [r["key"] for r in rows(store, "day_summary")] == ["2026-11-26"]
    assert rows(store)[0]["seq"] > batch.changes[-1]["seq"]  # the acknowledged, old rows are gone
