"""Staff sign-in and enrolled terminals (docs/architecture.md §Web): what a clerk, a manager and a kiosk experience,
and what a copied database file would give away (nothing usable)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from tongban.queue.accounts import (
    LOCK_AFTER_FAILURES,
    LOCK_MINUTES,
    SESSION_HOURS,
    SOURCE_MAX_FAILURES,
    AccountError,
    Accounts,
    AuthError,
    token_hash,
)
from tongban.queue.store import Store

PASSWORD = "correct horse 通办"
WRONG = "correct horse 通辦"


@pytest.fixture
def accounts(store, clock):
    return Accounts(store, clock)


@pytest.fixture
def clerk(accounts):
    return accounts.add("wang.li", PASSWORD, name="王丽", role="clerk", staff_no="0107")


@pytest.fixture
def manager(accounts):
    return accounts.add("zhang.wei", PASSWORD, name="张伟", role="manager")


def db_bytes(store: Store) -> bytes:
    """Everything on disk: the database file and its write-ahead log."""
    path = Path(store.path)
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def refused(code: str, do) -> AuthError:
    with pytest.raises(AuthError) as info:
        do()
    assert info.value.code == code, f"refused with {info.value.code}, expected {code}"
    assert info.value.message_zh and info.value.message_en
    return info.value


def failures_on_disk(store: Store, username: str, source: str = "-") -> int:
    """The failures counted against a name from a source, read from a second connection: only what
    was committed counts. Failed sign-ins are kept per (name, source), not on the account."""
    other = Store(store.path)
    try:
        return other.one(
            "SELECT COUNT(*) FROM login_failures WHERE name_hash = ? AND source = ? AND counted = 1",
            (token_hash(username), source),
        )[0]
    finally:
        other.close()


# ---------- passwords ----------


def test_only_an_argon2_hash_is_stored(accounts, clerk, store):
    stored = store.one("SELECT password_hash FROM accounts WHERE username = 'wang.li'")[0]
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)
    assert PASSWORD.encode() not in db_bytes(store)
    # Two accounts with the same password get different hashes (salted).
    accounts.add("li.na", PASSWORD, name="李娜", role="clerk")
    other = store.one("SELECT password_hash FROM accounts WHERE username = 'li.na'")[0]
    assert other != stored


@pytest.mark.production_hashing
def test_production_hash_cost(accounts, store):
    # What a hall really stores: argon2id with at least the library's recommended cost.
    accounts.add("zhao.min", PASSWORD, name="赵敏", role="manager")
    stored = store.one("SELECT password_hash FROM accounts WHERE username = 'zhao.min'")[0]
    assert stored.startswith("$argon2id$v=19$")
    cost = dict(kv.split("=") for kv in stored.split("$")[3].split(","))
    assert int(cost["m"]) >= 19 * 1024 and int(cost["t"]) >= 2, cost
    assert accounts.login("zhao.min", PASSWORD)[1].account.username == "zhao.min"


def test_account_rules(accounts, clerk):
    with pytest.raises(AccountError):
        accounts.add("wang.li", PASSWORD, name="王丽", role="clerk")
    with pytest.raises(AccountError):
        accounts.add("short", "1234567", name="短", role="clerk")
    with pytest.raises(AccountError):
        accounts.add("boss", PASSWORD, name="老板", role="admin")
    assert [a.username for a in accounts.list()] == ["wang.li"]


def test_login_works_and_wrong_password_fails(accounts, clerk, manager):
    token, session = accounts.login("zhang.wei", PASSWORD)
    assert session.account.username == "zhang.wei" and session.account.role == "manager"
    assert accounts.session(token).account.name == "张伟"
    refused("bad_login", lambda: accounts.login("zhang.wei", WRONG))
    refused("bad_login", lambda: accounts.login("zhang.wei", ""))
    # An unknown name gets the same answer as a wrong password: no hint which names exist.
    unknown = refused("bad_login", lambda: accounts.login("nobody", PASSWORD))
    wrong = refused("bad_login", lambda: accounts.login("wang.li", WRONG, window=1))
    assert (unknown.message_zh, unknown.message_en) == (wrong.message_zh, wrong.message_en)


def test_new_password_replaces_the_old(accounts, manager):
    accounts.set_password("zhang.wei", "a brand new one")
    refused("bad_login", lambda: accounts.login("zhang.wei", PASSWORD))
    assert accounts.login("zhang.wei", "a brand new one")[1].account.username == "zhang.wei"


# ---------- lockout ----------


def test_lockout_after_five_failures(accounts, manager, store, clock):
    assert LOCK_AFTER_FAILURES == 5
    for attempt in range(1, LOCK_AFTER_FAILURES + 1):
        refused("bad_login", lambda: accounts.login("zhang.wei", WRONG))
        # The count survives the refusal: it is committed, not rolled back with the failed login.
        assert failures_on_disk(store, "zhang.wei") == attempt
    # Locked: even the right password is refused, and with the same answer as a wrong one or an
    # unknown name (it used to say "locked", which told a guesser the name was real).
    wrong = refused("bad_login", lambda: accounts.login("zhang.wei", WRONG))
    locked = refused("bad_login", lambda: accounts.login("zhang.wei", PASSWORD))
    unknown = refused("bad_login", lambda: accounts.login("nobody", PASSWORD))
    assert {(e.code, e.message_zh, e.message_en) for e in (wrong, locked, unknown)} == {
        (locked.code, locked.message_zh, locked.message_en)
    }
    # Tries while locked do not stretch the lock.
    assert failures_on_disk(store, "zhang.wei") == LOCK_AFTER_FAILURES
    clock.advance(minutes=LOCK_MINUTES - 1)
    refused("bad_login", lambda: accounts.login("zhang.wei", PASSWORD))
    clock.advance(minutes=1, seconds=1)
    token, _ = accounts.login("zhang.wei", PASSWORD)
    assert accounts.session(token).account.username == "zhang.wei"
    assert failures_on_disk(store, "zhang.wei") == 0


def test_a_good_login_clears_earlier_failures(accounts, manager, store):
    for _ in range(LOCK_AFTER_FAILURES - 1):
        refused("bad_login", lambda: accounts.login("zhang.wei", WRONG))
    accounts.login("zhang.wei", PASSWORD)
    assert failures_on_disk(store, "zhang.wei") == 0
    for _ in range(LOCK_AFTER_FAILURES - 1):
        refused("bad_login", lambda: accounts.login("zhang.wei", WRONG))
    assert accounts.login("zhang.wei", PASSWORD)[1].account.username == "zhang.wei"


def test_lockout_is_per_account(accounts, clerk, manager):
    for _ in range(LOCK_AFTER_FAILURES):
        refused("bad_login", lambda: accounts.login("zhang.wei", WRONG))
    refused("bad_login", lambda: accounts.login("zhang.wei", PASSWORD))
    assert accounts.login("wang.li", PASSWORD, window=2)[1].window == 2


def test_lockout_is_per_source_address(accounts, clerk, store):
    """Five failures from the hall's lobby do not lock the clerk out of their own window's computer."""
    for _ in range(LOCK_AFTER_FAILURES):
        refused("bad_login", lambda: accounts.login("wang.li", WRONG, window=1, source="10.0.0.66"))
    refused("bad_login", lambda: accounts.login("wang.li", PASSWORD, window=1, source="10.0.0.66"))
    assert accounts.login("wang.li", PASSWORD, window=1, source="10.0.0.1")[1].window == 1
    # Signing in at the window clears nothing of the other address's lock.
    assert failures_on_disk(store, "wang.li", "10.0.0.66") == LOCK_AFTER_FAILURES


def test_an_address_failing_for_many_names_is_refused_itself(accounts, clerk, store, clock):
    assert SOURCE_MAX_FAILURES > LOCK_AFTER_FAILURES
    names = [f"guess{i}" for i in range(SOURCE_MAX_FAILURES)]
    for name in names:
        refused("bad_login", lambda name=name: accounts.login(name, WRONG, source="10.0.0.66"))
    limited = refused("login_rate_limited", lambda: accounts.login("wang.li", PASSWORD, window=1, source="10.0.0.66"))
    assert 0 < limited.details["retry_after_s"] <= LOCK_MINUTES * 60
    # An unknown name is refused the same way: the limit looks at the address, never the name.
    assert refused("login_rate_limited", lambda: accounts.login("nobody", WRONG, source="10.0.0.66")).details
    # No argon2 work and no new row while refused: the table cannot be flooded from one address.
    assert store.one("SELECT COUNT(*) FROM login_failures WHERE source = '10.0.0.66'")[0] == SOURCE_MAX_FAILURES
    assert accounts.login("wang.li", PASSWORD, window=1, source="10.0.0.1")[1].window == 1
    clock.advance(minutes=LOCK_MINUTES, seconds=1)
    assert accounts.login("wang.li", PASSWORD, window=1, source="10.0.0.66")[1].window == 1
    # Old failures are dropped as new ones come, so the table stays as small as the lock window.
    refused("bad_login", lambda: accounts.login("nobody", WRONG, source="10.0.0.66"))
    assert store.one("SELECT COUNT(*) FROM login_failures")[0] == 1


def test_names_as_typed_are_not_stored(accounts, clerk, store):
    """A clerk who types the password into the name field leaves no trace of it on disk."""
    refused("bad_login", lambda: accounts.login(PASSWORD, PASSWORD))
    assert PASSWORD.encode() not in db_bytes(store)


# ---------- clerks and windows ----------


def test_clerk_needs_a_window(accounts, clerk, store):
    refused("window_required", lambda: accounts.login("wang.li", PASSWORD))
    assert store.one("SELECT COUNT(*) FROM sessions")[0] == 0
    assert failures_on_disk(store, "wang.li") == 0  # the password was right: not a failure
    token, session = accounts.login("wang.li", PASSWORD, window=3)
    assert session.window == 3
    assert accounts.session(token).window == 3


def test_manager_signs_in_without_a_window(accounts, manager):
    assert accounts.login("zhang.wei", PASSWORD)[1].window is None


# ---------- sessions ----------


def test_session_expires(accounts, manager, clock):
    token, session = accounts.login("zhang.wei", PASSWORD)
    clock.advance(hours=SESSION_HOURS, seconds=-1)
    assert accounts.session(token).account.username == "zhang.wei"
    clock.advance(seconds=1)
    refused("session_expired", lambda: accounts.session(token))


def test_logout_and_disable_end_sessions(accounts, clerk, manager):
    token, _ = accounts.login("zhang.wei", PASSWORD)
    accounts.logout(token)
    refused("session_expired", lambda: accounts.session(token))
    clerk_token, _ = accounts.login("wang.li", PASSWORD, window=1)
    accounts.disable("wang.li")
    refused("session_expired", lambda: accounts.session(clerk_token))
    # "Disabled" is said only to someone who knows the password; a guess hears what any guess hears.
    refused("bad_login", lambda: accounts.login("wang.li", WRONG, window=1))
    refused("disabled", lambda: accounts.login("wang.li", PASSWORD, window=1))


def test_session_token_is_not_stored(accounts, manager, store):
    token, _ = accounts.login("zhang.wei", PASSWORD)
    row = store.one("SELECT * FROM sessions")
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in [str(v) for v in tuple(row)]
    assert token.encode() not in db_bytes(store)
    refused("session_expired", lambda: accounts.session(row["token_hash"]))  # the hash is not a token


def test_a_made_up_token_is_refused(accounts, manager):
    accounts.login("zhang.wei", PASSWORD)
    refused("session_expired", lambda: accounts.session("s_" + "A" * 43))
    refused("bad_terminal", lambda: accounts.terminal("t_" + "A" * 43))


# ---------- terminals ----------


def test_terminal_token_works_until_revoked(accounts, store, clock):
    token = accounts.add_terminal("kiosk-1", "kiosk", "一楼取号机")
    pad = accounts.add_terminal("pad-3", "pad", "3号窗口评价器", window=3)
    assert accounts.terminal(token).id == "kiosk-1"
    assert (accounts.terminal(pad).kind, accounts.terminal(pad).window) == ("pad", 3)
    clock.advance(days=400)  # terminal tokens do not expire by time
    assert accounts.terminal(token).kind == "kiosk"
    accounts.revoke_terminal("kiosk-1")
    refused("bad_terminal", lambda: accounts.terminal(token))
    assert accounts.terminal(pad).id == "pad-3"  # revoking one leaves the others
    with pytest.raises(AccountError):
        accounts.revoke_terminal("kiosk-1")  # already revoked
    listed = {t["id"]: t for t in accounts.terminals()}
    assert listed["kiosk-1"]["revoked_at"] is not None and listed["pad-3"]["revoked_at"] is None


def test_terminal_token_is_not_stored(accounts, store):
    token = accounts.add_terminal("display-1", "display", "综合屏")
    row = store.one("SELECT * FROM terminals WHERE id = 'display-1'")
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert all(token not in str(v) for v in tuple(row))
    assert token.encode() not in db_bytes(store)
    assert "token" not in str(accounts.terminals())  # the list never shows a token or its hash
    refused("bad_terminal", lambda: accounts.terminal(row["token_hash"]))


def test_terminal_rules(accounts):
    with pytest.raises(AccountError):
        accounts.add_terminal("pad-1", "pad", "评价器")  # a pad belongs to a window
    with pytest.raises(AccountError):
        accounts.add_terminal("x-1", "printer", "打印机")
    accounts.add_terminal("kiosk-1", "kiosk", "取号机")
    with pytest.raises(AccountError):
        accounts.add_terminal("kiosk-1", "kiosk", "取号机")
    t1 = accounts.add_terminal("kiosk-2", "kiosk", "取号机")
    t2 = accounts.add_terminal("kiosk-3", "kiosk", "取号机")
    assert t1 != t2 and len(t1) >= 40
