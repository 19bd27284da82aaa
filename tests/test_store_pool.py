"""The web's reused connections (StorePool): reuse must never carry one request's state into the next."""

from __future__ import annotations

import sqlite3

import pytest

from tongban.queue.store import Store, StorePool


@pytest.fixture
def pool(tmp_path):
    Store(tmp_path / "hall.db").close()
    return StorePool(tmp_path / "hall.db", keep=2)


def test_a_connection_is_reused_by_the_next_request(pool):
    first = pool.acquire()
    pool.release(first)
    assert pool.acquire() is first


def test_a_request_that_died_inside_a_transaction_leaves_no_lock_and_no_half_write(pool, tmp_path):
    broken = pool.acquire()
    broken.conn.execute("BEGIN IMMEDIATE")
    broken.conn.execute("INSERT INTO settings (key, value) VALUES ('half', 'written')")
    pool.release(broken)

    other = sqlite3.connect(tmp_path / "hall.db", timeout=0.1)  # would wait 0.1 s and fail on a held lock
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()
    again = pool.acquire()
    assert not again.conn.in_transaction
    assert again.one("SELECT value FROM settings WHERE key = 'half'") is None


def test_only_a_few_idle_connections_stay_open(pool):
    stores = [pool.acquire() for _ in range(4)]
    assert pool.lent == 4
    for store in stores:
        pool.release(store)
    assert pool.lent == 0
    kept = [pool.acquire() for _ in range(2)]
    assert set(map(id, kept)) <= set(map(id, stores))
    closed = [s for s in stores if s not in kept]
    for store in closed:
        with pytest.raises(sqlite3.ProgrammingError):
            store.one("SELECT 1")
