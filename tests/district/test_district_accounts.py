"""District staff accounts (tongban/district/accounts.py): the hall's rules on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from tongban.district import accounts
from tongban.queue.clock import FakeClock

START = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
def conn(district_url):
    with psycopg.connect(district_url) as conn:
        yield conn


@pytest.fixture
def clock():
    return FakeClock(START)


def refused(conn, clock, username, password) -> str:
    with pytest.raises(accounts.AccountError) as caught:
        accounts.verify(conn, username, password, clock=clock)
    assert caught.value.message_zh and caught.value.message_en
    return caught.value.code


def test_add_and_verify(conn, clock):
    accounts.add(conn, "li", "a long secret", name="Li Si", clock=clock)
    conn.commit()
    assert accounts.verify(conn, "li", "a long secret", clock=clock) == {
        "username": "li",
        "name": "Li Si",
        "must_change": False,
        "disabled": False,
    }
    assert refused(conn, clock, "li", "wrong password") == "bad_login"
    assert refused(conn, clock, "nobody", "a long secret") == "bad_login"


@pytest.mark.parametrize(
    "username, password, code",
    [
        ("li", "short", "password_short"),
        ("li", "demo-clerk", "password_demo"),
        ("a b", "a long secret", "bad_username"),
    ],
)
def test_add_refuses(conn, clock, username, password, code):
    with pytest.raises(accounts.AccountError) as caught:
        accounts.add(conn, username, password, name="x", clock=clock)
    assert caught.value.code == code


def test_a_name_is_added_once(conn, clock):
    accounts.add(conn, "li", "a long secret", name="Li", clock=clock)
    with pytest.raises(accounts.AccountError) as caught:
        accounts.add(conn, "li", "another secret", name="Li", clock=clock)
    assert caught.value.code == "username_taken"


def test_five_failures_lock_the_name_for_fifteen_minutes_even_with_the_right_password(conn, clock):
    accounts.add(conn, "li", "a long secret", name="Li", clock=clock)
    conn.commit()
    for _ in range(accounts.LOCK_AFTER_FAILURES):
        assert refused(conn, clock, "li", "wrong password") == "bad_login"
    assert refused(conn, clock, "li", "a long secret") == "bad_login"
    clock.advance(minutes=accounts.LOCK_MINUTES - 1)
    assert refused(conn, clock, "li", "a long secret") == "bad_login"
    clock.advance(minutes=2)
    assert accounts.verify(conn, "li", "a long secret", clock=clock)["username"] == "li"


def test_failures_survive_the_callers_rollback(conn, clock):
    accounts.add(conn, "li", "a long secret", name="Li", clock=clock)
    conn.commit()
    refused(conn, clock, "li", "wrong password")
    conn.rollback()
    assert conn.execute("SELECT failed_logins FROM accounts").fetchone() == (1,)
    accounts.verify(conn, "li", "a long secret", clock=clock)
    assert conn.execute("SELECT failed_logins FROM accounts").fetchone() == (0,)


def test_a_disabled_account_is_told_so_only_with_the_right_password(conn, clock):
    accounts.add(conn, "li", "a long secret", name="Li", clock=clock)
    accounts.disable(conn, "li")
    conn.commit()
    assert refused(conn, clock, "li", "wrong password") == "bad_login"
    assert refused(conn, clock, "li", "a long secret") == "disabled"


def test_set_password(conn, clock):
    accounts.add(conn, "li", "a long secret", name="Li", clock=clock)
    accounts.set_password(conn, "li", "a new secret")
    conn.commit()
    assert accounts.verify(conn, "li", "a new secret", clock=clock)["username"] == "li"
    with pytest.raises(accounts.AccountError) as caught:
        accounts.set_password(conn, "li", "demo-manager")
    assert caught.value.code == "password_demo"
