"""Applying hall batches to the district database (tongban/district/ingest.py), on a real PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import psycopg
import pytest

from tongban.district import halls, ingest

from ._core_batches import DAY, at, batch, busy_day, event, ticket

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
def conn(district_url):
    with psycopg.connect(district_url) as conn:
        halls.add(conn, "h1", name="Hall one", now=NOW)
        halls.add(conn, "h2", now=NOW)
        conn.commit()
        yield conn


def push(conn, body: dict) -> ingest.Applied:
    with conn.transaction():
        return ingest.apply_batch(conn, ingest.parse_batch(body), now=NOW)


def rows(conn, sql: str, *args) -> list[tuple]:
    return conn.execute(sql, args).fetchall()


def snapshot(conn) -> dict:
    return {
        table: rows(conn, f"SELECT * FROM {table} ORDER BY 1, 2")
        for table in ("tickets", "events", "windows", "cases", "case_events", "alerts", "day_summaries")
    }


def test_a_batch_applied_twice_changes_nothing(conn):
    body = batch("h1", busy_day(3))
    first = push(conn, body)
    assert (first.acked, first.applied, first.gap) == (24, 24, False)
    before = snapshot(conn)
    again = push(conn, body)
    assert (again.acked, again.applied, again.skipped) == (24, 0, 24)
    assert snapshot(conn) == before
    assert rows(conn, "SELECT count(*) FROM tickets") == [(3,)]
    assert rows(conn, "SELECT count(*) FROM events") == [(12,)]
    assert rows(conn, "SELECT state FROM tickets WHERE uid = 't000000'") == [("done",)]


def test_a_batch_overlapping_what_is_held_applies_only_the_new_part(conn):
    changes = busy_day(2)
    push(conn, batch("h1", changes[:5]))
    result = push(conn, batch("h1", changes))
    assert (result.acked, result.applied, result.skipped) == (16, 11, 5)
    assert rows(conn, "SELECT count(*) FROM events") == [(8,)]


def test_a_gap_applies_nothing_and_answers_what_is_held(conn):
    changes = busy_day(2)
    push(conn, batch("h1", changes[:4]))
    result = push(conn, batch("h1", changes[6:], first=7))
    assert (result.acked, result.applied, result.gap) == (4, 0, True)
    assert rows(conn, "SELECT count(*) FROM events") == [(2,)]
    # The hall resends from acked + 1 and everything lands.
    assert push(conn, batch("h1", changes[4:], first=5)).acked == 16
    assert rows(conn, "SELECT count(*) FROM events") == [(8,)]


def test_batches_out_of_order_land_once_each(conn):
    changes = busy_day(3)
    second, first = batch("h1", changes[12:], first=13), batch("h1", changes[:12])
    assert push(conn, second).gap
    assert push(conn, first).acked == 12
    assert push(conn, second).acked == 24
    assert push(conn, first).applied == 0
    assert rows(conn, "SELECT count(*), count(*) FILTER (WHERE state = 'done') FROM tickets") == [(3, 3)]


def test_a_new_generation_starts_from_one_and_upserts_land_on_the_same_rows(conn):
    changes = busy_day(2)
    push(conn, batch("h1", changes))
    # A restored hall resends what it kept under a new generation: nothing is doubled.
    result = push(conn, batch("h1", changes[:10], generation="g2"))
    assert (result.acked, result.applied) == (10, 10)
    assert rows(conn, "SELECT generation, acked FROM hall_generations ORDER BY 1") == [("g1", 16), ("g2", 10)]
    assert rows(conn, "SELECT count(*) FROM tickets") == [(2,)]
    assert rows(conn, "SELECT count(*) FROM events") == [(8,)]


def test_an_empty_batch_asks_for_acked(conn):
    push(conn, batch("h1", busy_day(1)))
    assert push(conn, batch("h1", [])).acked == 8
    assert push(conn, batch("h1", [], generation="new")).acked == 0


def test_undo_marks_the_undone_event(conn):
    push(
        conn,
        batch(
            "h1",
            [
                ticket("u1"),
                event("e1", "u1", "no_show", at(5)),
                event("e2", "u1", "undo", at(6), undone_uid="e1"),
            ],
        ),
    )
    assert rows(conn, "SELECT uid, undone FROM events ORDER BY uid") == [("e1", True), ("e2", False)]


def test_first_call_is_the_earliest_call_whatever_order_it_comes_in(conn):
    push(conn, batch("h1", [ticket("u1"), event("c2", "u1", "call", at(9)), event("c1", "u1", "call", at(7))]))
    assert rows(conn, "SELECT first_call_at FROM tickets") == [(datetime.fromisoformat(at(7)),)]
    # A later recall does not move it.
    push(conn, batch("h1", [event("c3", "u1", "call", at(20))], first=4))
    assert rows(conn, "SELECT first_call_at FROM tickets") == [(datetime.fromisoformat(at(7)),)]


def test_an_event_before_its_ticket_gets_its_day_and_first_call_when_the_ticket_comes(conn):
    push(conn, batch("h1", [event("c1", "u9", "call", at(3))]))
    assert rows(conn, "SELECT service_day FROM events") == [(None,)]
    push(conn, batch("h1", [ticket("u9")], first=2))
    assert rows(conn, "SELECT service_day FROM events") == [(date.fromisoformat(DAY),)]
    assert rows(conn, "SELECT first_call_at FROM tickets") == [(datetime.fromisoformat(at(3)),)]


def test_events_carry_their_tickets_service_day(conn):
    push(conn, batch("h1", busy_day(1)))
    assert rows(conn, "SELECT DISTINCT service_day FROM events") == [(date.fromisoformat(DAY),)]


def test_every_kind_is_stored_and_unknown_kinds_are_counted_only(conn):
    changes = [
        {
            "kind": "window",
            "key": "3",
            "body": {"number": 3, "state": "open", "serving": '["A"]', "clerk": "c1", "updated_at": at(1)},
        },
        {
            "kind": "case",
            "key": "k1",
            "body": {
                "uid": "k1",
                "id": 1,
                "number": "C001",
                "mode": "window",
                "matter": "m1",
                "matter_zh": "事项",
                "matter_en": "Matter",
                "department": "d1",
                "state": "received",
                "opened_day": DAY,
                "due_day": "2026-12-20",
                "due_flag": None,
                "closed_day": None,
                "handling_dept": "d2",
                "applicant_masked": "张*",
                "phone_last4": "1234",
                "updated_at": at(2),
                "origin_hall": None,
                "origin_case_uid": None,
                "target_hall": None,
                "id_number": "110101199001011234",
            },
        },
        {
            "kind": "case_event",
            "key": "ke1",
            "body": {
                "uid": "ke1",
                "case_uid": "k1",
                "action": "receive",
                "from_state": None,
                "to_state": "received",
                "actor": "c1",
                "at": at(2),
                "day": DAY,
                "data": {},
            },
        },
        {
            "kind": "alert",
            "key": "a1",
            "body": {
                "uid": "a1",
                "device": "p1",
                "kind": "paper_low",
                "message_zh": "缺纸",
                "message_en": "Paper low",
                "at": at(3),
                "acked_at": None,
            },
        },
        {"kind": "day_summary", "key": DAY, "body": {"day": DAY, "totals": {"issued": 3}}},
        {"kind": "from_the_future", "key": "x", "body": {"anything": 1}},
        {
            "kind": "window",
            "key": "3",
            "body": {"number": 3, "state": "paused", "serving": ["A", "B"], "clerk": None, "updated_at": at(4)},
        },
    ]
    result = push(conn, batch("h1", changes))
    assert (result.acked, result.applied, result.unknown) == (7, 7, 1)
    assert rows(conn, "SELECT number, state, serving FROM windows") == [(3, "paused", ["A", "B"])]
    (case,) = rows(conn, "SELECT number, applicant_masked, body FROM cases")
    assert case[:2] == ("C001", "张*")
    assert "id_number" not in case[2]  # a hall's slip of personal data is not stored
    assert rows(conn, "SELECT count(*) FROM case_events") == [(1,)]
    assert rows(conn, "SELECT message_en FROM alerts") == [("Paper low",)]
    assert rows(conn, "SELECT totals FROM day_summaries") == [({"issued": 3},)]


def test_last_sync_and_last_seen_are_set(conn):
    push(conn, batch("h1", busy_day(1)))
    assert rows(conn, "SELECT last_sync_at FROM halls WHERE id = 'h1'") == [(NOW,)]
    assert rows(conn, "SELECT last_sync_at FROM halls WHERE id = 'h2'") == [(None,)]


def test_halls_do_not_see_each_others_rows(conn):
    push(conn, batch("h1", busy_day(2)))
    push(conn, batch("h2", busy_day(2)))
    assert rows(conn, "SELECT hall, count(*) FROM tickets GROUP BY hall ORDER BY hall") == [("h1", 2), ("h2", 2)]


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda b: b.pop("generation"), "generation"),
        (lambda b: b.update(changes={}), "changes"),
        (lambda b: b["changes"][1].update(seq=9), "changes[1].seq"),
        (lambda b: b["changes"][0].update(seq="1"), "changes[0].seq"),
        (lambda b: b["changes"][0].pop("kind"), "changes[0].kind"),
        (lambda b: b["changes"][0].update(body=[]), "changes[0].body"),
        (lambda b: b["changes"][0]["body"].update(issued_at="07/12/2026"), "changes[0].body.issued_at"),
        (lambda b: b["changes"][0]["body"].update(issued_at="2026-12-07T01:00:00"), "changes[0].body.issued_at"),
        (lambda b: b["changes"][0]["body"].update(service_day="2026-13-40"), "changes[0].body.service_day"),
        (lambda b: b["changes"][0]["body"].update(window=2**40), "changes[0].body.window"),
        (lambda b: b["changes"][0]["body"].update(state="x\x00"), "changes[0].body.state"),
        (lambda b: b["changes"][1]["body"].update(data={"k": float("nan")}), "changes[1].body.data.k"),
        (lambda b: b["changes"][1]["body"].update(data="[1]"), "changes[1].body.data"),
    ],
)
def test_a_malformed_batch_names_the_field(mutate, field):
    body = batch("h1", busy_day(1)[:2])
    mutate(body)
    with pytest.raises(ingest.BatchError) as caught:
        ingest.parse_batch(body)
    assert caught.value.field == field
    assert field in caught.value.message_zh and field in caught.value.message_en


def test_a_batch_over_the_limit_is_refused_whole():
    with pytest.raises(ingest.BatchTooLarge):
        ingest.parse_batch(batch("h1", busy_day(251)))


def test_ingest_is_fast(conn, capsys):
    """A busy day (900 tickets, 7200 changes) in batches of 2000: thousands of changes a second."""
    changes = busy_day(900)
    started = time.perf_counter()
    for first in range(0, len(changes), 2000):
        push(conn, batch("h1", changes[first : first + 2000], first=first + 1))
    took = time.perf_counter() - started
    rate = len(changes) / took
    with capsys.disabled():
        print(f"\ningest: {len(changes)} changes in {took:.2f} s = {rate:.0f} changes/s")
    assert rows(conn, "SELECT count(*) FROM events") == [(3600,)]
    assert rate > 2000


def test_two_pushes_of_one_hall_at_once_apply_one_after_the_other(district_url, conn):
    """A retry racing a slow answer: the second waits on the generation's lock, then skips what is held."""
    import threading

    body = batch("h1", busy_day(50))
    with psycopg.connect(district_url) as first:
        with first.transaction():
            assert ingest.apply_batch(first, ingest.parse_batch(body), now=NOW).applied == 400
            results: list[ingest.Applied] = []

            def second() -> None:
                with psycopg.connect(district_url) as other, other.transaction():
                    results.append(ingest.apply_batch(other, ingest.parse_batch(body), now=NOW))

            racer = threading.Thread(target=second)
            racer.start()
            # The racer is blocked on the row lock until this transaction commits.
            # (Asked outside a transaction: inside one, pg_stat_activity is a snapshot that never changes.)
            with psycopg.connect(district_url, autocommit=True) as watcher:
                deadline = time.monotonic() + 30
                while not watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                ).fetchone()[0]:
                    assert time.monotonic() < deadline, "the second push never waited for the lock"
                    time.sleep(0.01)
            assert results == []
        racer.join(timeout=30)
    assert (results[0].acked, results[0].applied, results[0].skipped) == (400, 0, 400)
    assert rows(conn, "SELECT count(*) FROM events") == [(200,)]
