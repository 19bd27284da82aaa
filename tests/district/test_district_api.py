"""POST /api/v1/sync: a hall's token, its batch, and every refusal as named JSON (never a 500)."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from tongban.district import halls, ingest
from tongban.district.app import create_district_app
from tongban.queue.clock import FakeClock

from ._core_batches import batch, busy_day

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
def district(district_url):
    with psycopg.connect(district_url) as conn:
        tokens = {hall: halls.add(conn, hall, now=NOW) for hall in ("h1", "h2")}
    app = create_district_app(district_url, clock=FakeClock(NOW), pool_size=2)
    yield app.test_client(), tokens, district_url
    app.extensions["district_pool"].close()


def post(client, token: str | None, body, **kw):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if isinstance(body, bytes | str):
        return client.post("/api/v1/sync", data=body, headers=headers, content_type="application/json")
    return client.post("/api/v1/sync", json=body, headers=headers, **kw)


def count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


def assert_named(answer, status: int, code: str) -> dict:
    assert answer.status_code == status, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["error"] == code
    assert body["message_zh"] and body["message_en"]
    return body


def test_a_batch_is_applied_and_acked(district):
    client, tokens, url = district
    answer = post(client, tokens["h1"], batch("h1", busy_day(2)))
    assert answer.status_code == 200
    assert answer.get_json() == {"hall": "h1", "generation": "g1", "acked": 16, "applied": 16, "gap": False}
    again = post(client, tokens["h1"], batch("h1", busy_day(2)))
    assert again.get_json()["acked"] == 16 and again.get_json()["applied"] == 0
    assert count(url, "SELECT count(*) FROM events") == 8
    assert count(url, "SELECT count(*) FROM halls WHERE last_sync_at IS NOT NULL") == 1


def test_a_gap_is_answered_with_acked(district):
    client, tokens, _ = district
    post(client, tokens["h1"], batch("h1", busy_day(1)))
    answer = post(client, tokens["h1"], batch("h1", busy_day(1), first=20))
    assert answer.get_json()["acked"] == 8 and answer.get_json()["gap"] is True


@pytest.mark.parametrize("token", [None, "h_not-a-token", ""])
def test_a_missing_or_unknown_token_is_refused(district, token):
    client, _, url = district
    assert_named(post(client, token, batch("h1", busy_day(1))), 401, "bad_token")
    assert count(url, "SELECT count(*) FROM tickets") == 0


def test_a_revoked_token_is_refused(district):
    client, tokens, url = district
    assert post(client, tokens["h1"], batch("h1", busy_day(1))).status_code == 200
    with psycopg.connect(url) as conn:
        halls.revoke(conn, "h1", now=NOW)
    assert_named(post(client, tokens["h1"], batch("h1", busy_day(2))), 401, "bad_token")
    assert count(url, "SELECT count(*) FROM tickets") == 1


def test_a_token_that_is_not_bearer_is_refused(district):
    client, tokens, _ = district
    answer = client.post("/api/v1/sync", json=batch("h1", []), headers={"Authorization": f"Basic {tokens['h1']}"})
    assert_named(answer, 401, "bad_token")


def test_one_hall_cannot_write_as_another(district):
    client, tokens, url = district
    body = assert_named(post(client, tokens["h1"], batch("h2", busy_day(1))), 403, "wrong_hall")
    assert "h1" in body["message_en"] and "h2" in body["message_en"]
    # Even a malformed batch claiming another hall hears wrong_hall, and nothing is written anywhere.
    assert_named(post(client, tokens["h1"], {"hall": "h2", "changes": "x"}), 403, "wrong_hall")
    assert count(url, "SELECT count(*) FROM tickets") == 0
    assert count(url, "SELECT count(*) FROM hall_generations") == 0
    assert count(url, "SELECT count(*) FROM halls WHERE last_sync_at IS NOT NULL") == 0


@pytest.mark.parametrize(
    "body, field",
    [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (b"null", "body"),
        (b"{" * 5000 + b"}" * 5000, "body"),
        ({"hall": "h1"}, "generation"),
        ({"hall": "h1", "generation": "g1"}, "changes"),
        ({"hall": "h1", "generation": "g1", "changes": [None]}, "changes[0]"),
        (
            {"hall": "h1", "generation": "g1", "changes": [{"seq": 1, "kind": "ticket", "key": "u", "body": {}}]},
            "changes[0].body.uid",
        ),
        ({"hall": 7, "generation": "g1", "changes": []}, "hall"),
        ({"hall": "h1", "generation": "g" * 65, "changes": []}, "generation"),
        (
            {"hall": "h1", "generation": "g1", "changes": [{"seq": 2**70, "kind": "x", "key": "k", "body": {}}]},
            "changes[0].seq",
        ),
    ],
)
def test_a_malformed_batch_gets_400_naming_the_field(district, body, field):
    client, tokens, url = district
    answer = assert_named(post(client, tokens["h1"], body), 400, "bad_batch")
    assert answer["field"] == field
    assert count(url, "SELECT count(*) FROM hall_generations") == 0


def test_a_bad_value_deep_in_a_batch_writes_nothing(district):
    client, tokens, url = district
    changes = busy_day(3)
    changes[-1]["body"]["at"] = "yesterday"
    answer = assert_named(post(client, tokens["h1"], batch("h1", changes)), 400, "bad_batch")
    assert answer["field"] == "changes[23].body.at"
    assert count(url, "SELECT count(*) FROM tickets") == 0


def test_a_huge_batch_gets_413(district):
    client, tokens, url = district
    body = batch("h1", busy_day(ingest.MAX_CHANGES // 8 + 1))
    assert_named(post(client, tokens["h1"], body), 413, "batch_too_large")
    assert count(url, "SELECT count(*) FROM tickets") == 0


def test_a_body_over_the_size_limit_gets_413(district):
    client, tokens, _ = district
    assert_named(post(client, tokens["h1"], b'"' + b"x" * (17 * 1024 * 1024) + b'"'), 413, "too_large")


def test_hall_from_token_serves_other_blueprints(district_url):
    """Other district blueprints (catalogue, handoffs) ask the same helper who is calling."""
    from flask import jsonify

    from tongban.district import context

    with psycopg.connect(district_url) as conn:
        token = halls.add(conn, "h9", now=NOW)
    app = create_district_app(district_url, pool_size=1)

    @app.get("/probe")
    def probe():
        with app.extensions["district_pool"].connection() as conn:
            return jsonify(hall=context.hall_from_token(conn))

    client = app.test_client()
    try:
        assert client.get("/probe", headers={"Authorization": f"Bearer {token}"}).get_json() == {"hall": "h9"}
        assert_named(client.get("/probe"), 401, "bad_token")
    finally:
        app.extensions["district_pool"].close()


@pytest.mark.parametrize("failure", ["down", "busy"])
def test_a_database_that_is_away_is_a_named_503(district, failure):
    """PostgreSQL down or every pooled connection busy: the hall's sync worker backs off; never a 500."""
    from contextlib import contextmanager

    from psycopg_pool import PoolTimeout

    client, tokens, _ = district
    real = client.application.extensions["district_pool"]

    class AwayPool:
        @contextmanager
        def connection(self):
            if failure == "busy":
                raise PoolTimeout("couldn't get a connection after 30.00 sec")
            raise psycopg.OperationalError("connection to server failed: No such file or directory")
            yield

    client.application.extensions["district_pool"] = AwayPool()
    try:
        answer = post(client, tokens["h1"], batch("h1", []))
    finally:
        client.application.extensions["district_pool"] = real
    assert_named(answer, 503, "district_unavailable")
    assert answer.headers["Retry-After"] == "5"
