"""Hardening: passwords, lockout, sessions, demo passwords, terminal tokens on staff routes
(every /api/v1 route, found by walking the app's url_map), CSRF on every form route, security
headers, button mashing at a kiosk, and no secrets in the repository."""

from __future__ import annotations

import inspect
import re
import subprocess
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from tongban.config import parse_hall_config
from tongban.queue.accounts import (
    DEMO_PASSWORDS,
    LOCK_AFTER_FAILURES,
    SOURCE_MAX_FAILURES,
    AccountError,
    Accounts,
    AuthError,
)
from tongban.queue.ratelimit import KioskRateLimited
from tongban.queue.service import HallService
from tongban.queue.store import Store
from tongban.web.app import create_app

from .apiclient import PASSWORD, csrf_token, make_hall_client
from .conftest import small_hall_doc

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def hall(tmp_path, hall_config, clock):
    return make_hall_client(tmp_path, hall_config, clock)


@pytest.fixture
def accounts(store, clock):
    return Accounts(store, clock)


# ---------- passwords, lockout, sessions ----------


def test_passwords_are_stored_as_argon2id_hashes(accounts, store):
    accounts.add("li", "a-long-password", name="李", role="manager")
    stored = store.one("SELECT password_hash FROM accounts WHERE username = 'li'")["password_hash"]
    assert stored.startswith("$argon2id$") and "a-long-password" not in stored


def test_lockout_after_repeated_failures_and_release_after_the_wait(accounts, clock):
    accounts.add("li", "a-long-password", name="李", role="manager")
    for _ in range(LOCK_AFTER_FAILURES):
        with pytest.raises(AuthError) as exc:
            accounts.login("li", "wrong-password")
        assert exc.value.code == "bad_login"
    with pytest.raises(AuthError) as exc:
        accounts.login("li", "a-long-password")  # even the right password, while locked
    # The answer of a wrong password: "locked" would confirm the name is real (docs/architecture.md §Web).
    assert exc.value.code == "bad_login"
    clock.advance(minutes=16)
    token, _ = accounts.login("li", "a-long-password")
    assert accounts.session(token).account.username == "li"


def _api_login(hall, username: str, password: str, window: int | None = None, source: str = "10.0.0.1"):
    body = {"username": username, "password": password, **({"window": window} if window else {})}
    return hall.http.post("/api/v1/login", json=body, environ_base={"REMOTE_ADDR": source})


def _page_login(hall, username: str, password: str, window: int | None = None, source: str = "10.0.0.1"):
    client = hall.app.test_client()
    client.environ_base["REMOTE_ADDR"] = source
    form = {"username": username, "password": password, "window": str(window or "")}
    form["csrf_token"] = csrf_token(client.get("/login").get_data(as_text=True))
    r = client.post("/login", data=form)
    # The page's CSRF tokens differ from one answer to the next; nothing else may.
    body = re.sub(r'(csrf_token" value="|"X-CSRFToken": ")[^"]+', r"\1…", r.get_data(as_text=True))
    return r.status_code, body.replace(f'value="{username}"', 'value="…"')


def test_unknown_names_wrong_passwords_and_locked_names_get_one_answer(hall):
    """Before, a real name answered 403 "locked" after five failures while an unknown one kept
    answering 401: a guesser could confirm names. Now all three get the same status and body, on the
    API and on the sign-in page, and the page keeps no trace of which it was."""
    for _ in range(LOCK_AFTER_FAILURES):
        assert _api_login(hall, "manager", "nope", source="10.0.0.66").status_code == 401
        assert _api_login(hall, "clerk9", "nope", source="10.0.0.66").status_code == 401
    answers = {
        "unknown name": _api_login(hall, "clerk7", "nope", source="10.0.0.66"),
        "unknown name, locked": _api_login(hall, "clerk9", PASSWORD, source="10.0.0.66"),
        "wrong password": _api_login(hall, "clerk1", "nope", window=1, source="10.0.0.66"),
        "locked, right password": _api_login(hall, "manager", PASSWORD, source="10.0.0.66"),
    }
    seen = {(r.status_code, r.get_data(as_text=True)) for r in answers.values()}
    assert len(seen) == 1, seen
    status, body = seen.pop()
    assert status == 401 and '"error":"bad_login"' in body.replace(" ", "")
    # The page: the same for the three as well.
    pages = {
        _page_login(hall, "clerk7", "nope", source="10.0.0.66"),
        _page_login(hall, "clerk1", "nope", source="10.0.0.66"),
        _page_login(hall, "manager", PASSWORD, source="10.0.0.66"),
    }
    assert len(pages) == 1 and pages.pop()[0] == 401
    # From the manager's own computer the right password still works.
    assert _api_login(hall, "manager", PASSWORD).status_code == 200


def test_an_attacker_failing_for_every_clerk_does_not_stop_the_clerks(hall):
    """One address tries every name until it is refused itself (429); each clerk still signs in from
    their own window's computer, on the page and over the API, and nobody is locked out."""
    names = ["manager", "clerk1", "clerk2"] + [f"clerk{n}" for n in range(3, 20)]
    statuses = []
    for name in names:
        for _ in range(LOCK_AFTER_FAILURES):
            statuses.append(_api_login(hall, name, "guess", source="10.0.0.66").status_code)
    assert set(statuses) == {401, 429} and statuses.index(429) == SOURCE_MAX_FAILURES
    refused = _api_login(hall, "clerk1", PASSWORD, window=1, source="10.0.0.66")
    assert refused.status_code == 429 and refused.get_json()["error"] == "login_rate_limited"
    assert refused.get_json()["retry_after_s"] > 0 and refused.get_json()["message_zh"]
    assert _page_login(hall, "clerk2", PASSWORD, window=2, source="10.0.0.66")[0] == 429
    for n in (1, 2):
        assert _api_login(hall, f"clerk{n}", PASSWORD, window=n, source=f"10.0.0.{n}").status_code == 200
        assert _page_login(hall, f"clerk{n}", PASSWORD, window=n, source=f"10.0.0.{n}")[0] == 302
    assert _api_login(hall, "manager", PASSWORD, source="10.0.0.100").status_code == 200


def test_sessions_expire(hall, clock):
    token = hall.login("manager")
    assert hall.call("GET", "/lines", token).status_code == 200
    clock.advance(hours=12, seconds=1)
    r = hall.call("GET", "/lines", token)
    assert r.status_code == 401 and r.get_json()["error"] == "session_expired"


def test_disabling_an_account_ends_its_sessions(hall, tmp_path, clock):
    token = hall.login("clerk1", window=1)
    store = Store(tmp_path / "api.db")
    Accounts(store, clock).disable("clerk1")
    store.close()
    assert hall.call("POST", "/windows/1/open", token).status_code == 401


# ---------- demo passwords outside the demo ----------


def test_the_demo_passwords_are_the_ones_the_demo_seeds():
    from tongban.cli import DEMO_CLERK_PASSWORD, DEMO_MANAGER

    assert DEMO_PASSWORDS == {DEMO_MANAGER[1], DEMO_CLERK_PASSWORD}


def test_a_demo_password_must_be_changed_before_signing_in(tmp_path, hall_config, clock):
    db = str(tmp_path / "hall.db")
    app = create_app({"HALL": hall_config, "DATABASE": db, "CLOCK": clock, "TESTING": True})
    store = Store(db)
    # As `tongban demo` seeds them; then the same database is served for real.
    Accounts(store, clock, allow_demo_passwords=True).add("manager", "demo-manager", name="经理", role="manager")
    http = app.test_client()
    r = http.post("/api/v1/login", json={"username": "manager", "password": "demo-manager"})
    assert r.status_code == 401 and r.get_json()["error"] == "password_change_required"
    assert store.one("SELECT must_change FROM accounts")[0] == 1
    accounts = Accounts(store, clock)
    with pytest.raises(AuthError) as exc:
        accounts.login("manager", "demo-manager", new_password="demo-clerk")
    assert exc.value.code == "bad_new_password"
    token, session = accounts.login("manager", "demo-manager", new_password="our-own-password")
    assert not session.account.must_change or store.one("SELECT must_change FROM accounts")[0] == 0
    assert http.get("/api/v1/lines", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert http.post("/api/v1/login", json={"username": "manager", "password": "our-own-password"}).status_code == 200
    store.close()


def test_the_sign_in_page_makes_a_demo_password_be_replaced_before_anything_opens(tmp_path, hall_config, clock):
    """A box set up from the demo database: the manager signs in with the demo password, is asked for
    a new one on the same page, and from then on only the new one works."""
    db = str(tmp_path / "hall.db")
    app = create_app({"HALL": hall_config, "DATABASE": db, "CLOCK": clock, "TESTING": True})
    store = Store(db)
    Accounts(store, clock, allow_demo_passwords=True).add("manager", "demo-manager", name="经理", role="manager")
    web = app.test_client()
    token = csrf_token(web.get("/login").get_data(as_text=True))
    form = {"csrf_token": token, "username": "manager", "password": "demo-manager", "window": ""}

    first = web.post("/login", data=form)
    page = first.get_data(as_text=True)
    assert first.status_code == 401 and "请先修改初始密码" in page
    assert 'name="new_password"' in page and 'name="new_password_again"' in page
    assert 'value="manager"' in page and "demo-manager" not in page  # the old password is not echoed back
    assert web.get("/manage/").status_code in (302, 401)

    mismatch = web.post("/login", data={**form, "new_password": "our-own-password", "new_password_again": "other-one"})
    assert mismatch.status_code == 401 and "两次输入的新密码不一致" in mismatch.get_data(as_text=True)
    demo_again = web.post("/login", data={**form, "new_password": "demo-clerk", "new_password_again": "demo-clerk"})
    assert demo_again.status_code == 401 and "新密码不符合要求" in demo_again.get_data(as_text=True)
    assert store.one("SELECT must_change FROM accounts")[0] == 1

    changed = web.post(
        "/login", data={**form, "new_password": "our-own-password", "new_password_again": "our-own-password"}
    )
    assert changed.status_code == 302 and changed.headers["Location"].endswith("/manage/")
    assert web.get("/manage/").status_code == 200
    assert store.one("SELECT must_change FROM accounts")[0] == 0

    later = app.test_client()
    token = csrf_token(later.get("/login").get_data(as_text=True))
    assert later.post("/login", data={**form, "csrf_token": token}).status_code == 401
    assert later.post("/login", data={**form, "csrf_token": token, "password": "our-own-password"}).status_code == 302
    store.close()


def test_the_api_sign_in_replaces_a_demo_password_when_given_a_new_one(tmp_path, hall_config, clock):
    db = str(tmp_path / "hall.db")
    app = create_app({"HALL": hall_config, "DATABASE": db, "CLOCK": clock, "TESTING": True})
    store = Store(db)
    Accounts(store, clock, allow_demo_passwords=True).add("manager", "demo-manager", name="经理", role="manager")
    store.close()
    http = app.test_client()
    r = http.post(
        "/api/v1/login", json={"username": "manager", "password": "demo-manager", "new_password": "demo-clerk"}
    )
    assert r.status_code == 401 and r.get_json()["error"] == "bad_new_password"
    r = http.post(
        "/api/v1/login", json={"username": "manager", "password": "demo-manager", "new_password": "our-own-password"}
    )
    assert r.status_code == 200
    assert http.post("/api/v1/login", json={"username": "manager", "password": "our-own-password"}).status_code == 200


def test_the_demo_itself_signs_in_with_demo_passwords(tmp_path, hall_config, clock):
    db = str(tmp_path / "hall.db")
    app = create_app({"HALL": hall_config, "DATABASE": db, "CLOCK": clock, "TESTING": True, "ALWAYS_OPEN": True})
    store = Store(db)
    Accounts(store, clock).add("manager", "demo-manager", name="经理", role="manager")
    store.close()
    r = app.test_client().post("/api/v1/login", json={"username": "manager", "password": "demo-manager"})
    assert r.status_code == 200


def test_a_session_opened_in_the_demo_does_not_survive_outside_it(accounts, store, clock):
    demo = Accounts(store, clock, allow_demo_passwords=True)
    demo.add("clerk1", "demo-clerk", name="一号", role="clerk")
    token, _ = demo.login("clerk1", "demo-clerk", window=1)
    with pytest.raises(AuthError) as exc:
        accounts.session(token)
    assert exc.value.code == "password_change_required"


def test_demo_passwords_cannot_be_set_outside_the_demo(accounts):
    accounts.add("li", "a-long-password", name="李", role="clerk")
    with pytest.raises(AccountError, match="demo password"):
        accounts.set_password("li", "demo-clerk")


def test_account_passwd_command_clears_must_change(tmp_path, clock):
    db = str(tmp_path / "t.db")
    store = Store(db)
    Accounts(store, clock).add("li", "demo-clerk", name="李", role="clerk")
    assert store.one("SELECT must_change FROM accounts")[0] == 1
    r = CliRunner().invoke(
        __import__("tongban.cli", fromlist=["main"]).main,
        ["account", "passwd", "li", "--db", db],
        input="brand-new-pass\nbrand-new-pass\n",
    )
    assert r.exit_code == 0, r.output
    assert store.one("SELECT must_change FROM accounts")[0] == 0
    store.close()


# ---------- clerks act within their window's lines ----------


@pytest.fixture
def lined_hall(tmp_path, clock):
    """The small hall with a third line E that only window 3 is able to serve: windows 1 and 2 serve A and B."""
    doc = small_hall_doc()
    doc["matters"].append({**doc["matters"][0], "code": "M9", "name_zh": "综合事项", "name_en": "General matter"})
    doc["lines"].append({"prefix": "E", "name_zh": "综合业务", "name_en": "General", "matters": ["M9"]})
    doc["windows"].append({**doc["windows"][0], "number": 3, "name": "3号窗口", "able": ["E"], "serving": ["E"]})
    hall = make_hall_client(tmp_path, parse_hall_config(doc, "lined-hall"), clock)
    store = Store(tmp_path / "api.db")
    Accounts(store, clock).add("clerk3", PASSWORD, name="3号窗口", role="clerk")
    store.close()
    return hall


def _take(hall, line: str, token: str | None = None, **body) -> dict:
    r = hall.call("POST", "/tickets", token or hall.kiosk, json={"line": line, **body})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _served_at(hall, window: int, token: str) -> dict:
    """Open the window and call its next ticket."""
    hall.call("POST", f"/windows/{window}/open", token)
    r = hall.call("POST", f"/windows/{window}/next", token)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _no_show_in_e(hall) -> dict:
    clerk3 = hall.login("clerk3", window=3)
    _take(hall, "E")
    called = _served_at(hall, 3, clerk3)
    r = hall.call("POST", f"/tickets/{called['id']}/no_show", clerk3, json={"confirm": True})
    assert r.status_code == 200
    return r.get_json()


#: (what, the request's line and body, what the clerk at window 1 gets, what the manager gets).
LINE_MATRIX = [
    ("cancel a waiting E ticket", "E", "cancel", {}, 403),
    ("transfer a waiting E ticket into A", "E", "transfer", {"to_line": "A"}, 403),
    ("transfer a waiting A ticket into E", "A", "transfer", {"to_line": "E"}, 403),
    ("put an E no-show back in line", "E-no-show", "late_return", {}, 403),
    ("cancel a waiting A ticket", "A", "cancel", {}, 200),
    ("transfer a waiting A ticket into B", "A", "transfer", {"to_line": "B"}, 200),
]


@pytest.mark.parametrize("who", ["clerk1", "manager"])
@pytest.mark.parametrize(
    ("what", "line", "action", "body", "clerk_status"), LINE_MATRIX, ids=[m[0] for m in LINE_MATRIX]
)
def test_a_clerk_acts_only_on_the_lines_of_their_window_over_the_api(
    lined_hall, who, what, line, action, body, clerk_status
):
    hall = lined_hall
    ticket = _no_show_in_e(hall) if line == "E-no-show" else _take(hall, line)
    token = hall.login(who, window=1 if who == "clerk1" else None)
    r = hall.call("POST", f"/tickets/{ticket['id']}/{action}", token, json=body)
    expected = clerk_status if who == "clerk1" else 200  # the manager is not limited
    assert r.status_code == expected, (what, r.get_json())
    after = hall.call("GET", f"/tickets/{ticket['id']}", hall.login("manager")).get_json()
    if expected == 403:
        body = r.get_json()
        assert body["error"] == "wrong_line" and body["message_zh"] and body["message_en"]
        assert (after["state"], after["line"], after["transferred"]) == (ticket["state"], ticket["line"], False)
    else:
        assert after["state"] != ticket["state"] or after["line"] != ticket["line"]


def test_a_clerk_may_send_the_citizen_at_their_own_window_to_any_line(lined_hall):
    """The counter case a transfer is for: the citizen in front of window 1 belongs to line E."""
    hall = lined_hall
    clerk1 = hall.login("clerk1", window=1)
    _take(hall, "A")
    at_counter = _served_at(hall, 1, clerk1)
    r = hall.call("POST", f"/tickets/{at_counter['id']}/transfer", clerk1, json={"to_line": "E"})
    assert r.status_code == 200 and (r.get_json()["line"], r.get_json()["transferred"]) == ("E", True)


def test_a_clerks_green_ticket_is_for_their_windows_lines_over_the_api(lined_hall):
    hall = lined_hall
    clerk1 = hall.login("clerk1", window=1)
    r = hall.call("POST", "/tickets", clerk1, json={"line": "E", "green": True})
    assert r.status_code == 403 and r.get_json()["error"] == "wrong_line"
    assert _take(hall, "A", clerk1, green=True)["green"] is True
    assert _take(hall, "E", hall.login("clerk3", window=3), green=True)["green"] is True
    assert _take(hall, "E", hall.login("manager"), green=True)["green"] is True
    # The refused one took no number.
    store = Store(hall.app.config["DATABASE"], migrate=False)
    assert [r[0] for r in store.all("SELECT number FROM tickets ORDER BY id")] == ["A001", "E001", "E002"]
    store.close()


def _console(hall, username: str, window: int | None):
    client = hall.app.test_client()
    page = client.get("/login").get_data(as_text=True)
    form = {"csrf_token": csrf_token(page), "username": username, "password": PASSWORD, "window": str(window or "")}
    assert client.post("/login", data=form).status_code == 302
    page = client.get("/window/1").get_data(as_text=True)
    return client, {"X-CSRFToken": re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1), "HX-Request": "true"}


@pytest.mark.parametrize("who", ["clerk1", "manager"])
def test_a_clerk_acts_only_on_the_lines_of_their_window_on_the_console(lined_hall, who):
    hall = lined_hall
    no_show_e = _no_show_in_e(hall)
    waiting_e = _take(hall, "E")
    client, headers = _console(hall, who, 1 if who == "clerk1" else None)
    limited = who == "clerk1"

    r = client.post("/window/1/transfer", data={"ticket": waiting_e["id"], "target": "line:A"}, headers=headers)
    assert r.status_code == (403 if limited else 200), r.get_data(as_text=True)
    r = client.post("/window/1/late-return", data={"number": no_show_e["number"]}, headers=headers)
    assert r.status_code == (403 if limited else 200), r.get_data(as_text=True)
    green = {"confirmed": "yes", "green_reason": "elderly"}
    r = client.post("/window/1/green", data={**green, "matter": "line:E"}, headers=headers)
    assert r.status_code == (403 if limited else 200), r.get_data(as_text=True)
    if limited:
        assert "3号窗口" not in r.get_data(as_text=True) and "E" in r.get_data(as_text=True)
    # The console has no cancel button: a citizen who leaves is cancelled through the API.
    assert client.post(f"/window/1/ticket/{waiting_e['id']}/cancel", headers=headers).status_code == 404
    # Within window 1's lines the clerk's console works as before.
    assert client.post("/window/1/green", data={**green, "matter": "line:B"}, headers=headers).status_code == 200

    manager = hall.login("manager")
    after = {t: hall.call("GET", f"/tickets/{t}", manager).get_json() for t in (waiting_e["id"], no_show_e["id"])}
    if limited:
        assert (after[waiting_e["id"]]["line"], after[waiting_e["id"]]["transferred"]) == ("E", False)
        assert after[no_show_e["id"]]["state"] == "no_show"
    else:
        assert after[waiting_e["id"]]["line"] == "A" and after[no_show_e["id"]]["state"] == "waiting"


# ---------- terminal tokens on every staff route ----------


def _requires_settings(view):
    """(staff, manager, terminals) of a view wrapped by access.requires/page_requires, else None."""
    if not hasattr(view, "__wrapped__"):
        return None
    names = inspect.getclosurevars(view).nonlocals
    if not {"staff", "manager", "terminals", "view"} <= set(names):
        return None
    return names["staff"], names["manager"], tuple(names["terminals"])


SAMPLE = {"int": "1", "default": "x", "string": "x", "path": "x"}
ACTIONS = {"action": "start"}  # any value: the access check runs before the action is looked at


def _url(rule) -> str:
    url = rule.rule
    for name, conv in rule._converters.items():
        kind = type(conv).__name__.replace("Converter", "").lower()
        value = ACTIONS.get(name, SAMPLE.get(kind, "1"))
        url = re.sub(rf"<(?:[^:<>]+:)?{name}>", value, url)
    return url


PUBLIC_API = {("GET", "/api/v1/openapi.json"), ("GET", "/api/v1/matters"), ("POST", "/api/v1/login")}


def test_terminal_tokens_are_refused_on_every_staff_api_route(tmp_path, hall, clock):
    store = Store(tmp_path / "api.db")
    accounts = Accounts(store, clock)
    tokens = {
        "kiosk": hall.kiosk,
        "pad": accounts.add_terminal("pad-1", "pad", "评价器", window=1),
        "display": accounts.add_terminal("hall-display", "display", "综合屏"),
    }
    revoked = accounts.add_terminal("kiosk-old", "kiosk", "旧机")
    accounts.revoke_terminal("kiosk-old")
    store.close()
    checked = 0
    for rule in hall.app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        view = hall.app.view_functions[rule.endpoint]
        settings = _requires_settings(view)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if settings is None:
                assert (method, rule.rule) in PUBLIC_API, f"{method} {rule.rule} checks no token at all"
                continue
            url = _url(rule)
            _staff, _manager, allowed = settings
            for kind, token in tokens.items():
                r = hall.http.open(url, method=method, headers={"Authorization": f"Bearer {token}"}, json={})
                if kind in allowed:
                    assert r.status_code not in (401, 403) or r.get_json().get("error") not in (
                        "forbidden",
                        "unauthenticated",
                    ), f"{kind} refused on {method} {rule.rule}"
                else:
                    assert r.status_code == 403 and r.get_json()["error"] == "forbidden", (
                        f"{kind} terminal was let through {method} {url}: {r.status_code}"
                    )
            r = hall.http.open(url, method=method, headers={"Authorization": f"Bearer {revoked}"}, json={})
            assert r.status_code == 401 and r.get_json()["error"] == "bad_terminal"
            r = hall.http.open(url, method=method, json={})
            assert r.status_code == 401
            checked += 1
    assert checked >= 10


def test_terminal_cookies_are_refused_on_every_staff_page(tmp_path, hall, clock):
    client = hall.app.test_client()
    assert client.get(f"/enrol?token={hall.kiosk}").status_code == 302
    checked = 0
    for rule in hall.app.url_map.iter_rules():
        if rule.rule.startswith(("/api/v1", "/static")) or "GET" not in rule.methods:
            continue
        settings = _requires_settings(hall.app.view_functions[rule.endpoint])
        if settings is None or "kiosk" in settings[2]:
            continue
        r = client.get(_url(rule), headers={"Accept": "text/html"})
        assert r.status_code in (302, 401, 403, 404), f"kiosk reached GET {rule.rule}: {r.status_code}"
        assert r.status_code != 302 or "/login" in r.headers["Location"]
        checked += 1
    assert checked >= 2


# ---------- CSRF ----------


def test_every_form_route_refuses_a_post_without_the_csrf_token(hall):
    client = hall.app.test_client()
    checked = []
    for rule in hall.app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            continue
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            url = _url(rule)
            for headers in ({}, {"HX-Request": "true"}):
                r = client.open(url, method=method, headers=headers, data={"x": "1"})
                assert r.status_code == 400 and b"CSRF" in r.data, f"{method} {rule.rule} took a post without a token"
            checked.append(f"{method} {rule.rule}")
    assert "POST /login" in checked and "POST /logout" in checked


def test_pages_give_htmx_the_token_and_a_post_with_it_passes(hall):
    client = hall.app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    r = client.post(
        "/login",
        data={"username": "manager", "password": PASSWORD},
        headers={"X-CSRFToken": token, "HX-Request": "true"},
    )
    assert r.status_code in (200, 302) and b"CSRF" not in r.data


# ---------- headers ----------


@pytest.mark.parametrize("path", ["/login", "/info", "/healthz", "/api/v1/matters", "/static/css/base.css"])
def test_security_headers_on_every_kind_of_response(hall, path):
    r = hall.http.get(path)
    csp = r.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["script-src"] == "'self'" and directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"


def test_templates_have_no_inline_scripts():
    """What the CSP would block anyway: a template relying on it would simply not work in the hall."""
    bad = []
    for path in sorted((ROOT / "tongban" / "kiosk" / "templates").rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"<script\b([^>]*)>", text):
            if "src=" not in m.group(1):
                bad.append(f"{path.name}: inline <script>")
        for m in re.finditer(r"\son[a-z]+\s*=\s*[\"']", text):
            bad.append(f"{path.name}: inline handler {m.group(0).strip()}")
        if "javascript:" in text:
            bad.append(f"{path.name}: javascript: URL")
    assert bad == []


# ---------- the secret key and the repository ----------


def test_the_secret_key_is_made_at_first_start_and_kept_in_the_database(tmp_path, hall_config, clock):
    db = str(tmp_path / "hall.db")
    first = create_app({"HALL": hall_config, "DATABASE": db, "CLOCK": clock})
    second = create_app({"HALL": hall_config, "DATABASE": db, "CLOCK": clock})
    assert re.fullmatch(r"[0-9a-f]{64}", first.config["SECRET_KEY"])
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    other = create_app({"HALL": hall_config, "DATABASE": str(tmp_path / "other.db"), "CLOCK": clock})
    assert other.config["SECRET_KEY"] != first.config["SECRET_KEY"]


SECRET_PATTERNS = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\b[ts]_[A-Za-z0-9_-]{40,}\b"), "a terminal or session token"),
    (re.compile(r"(?i)secret_key\s*[=:]\s*['\"][^'\"]{8,}['\"]"), "a hard-coded secret key"),
    (re.compile(r"\$argon2id?\$v=\d+\$m=\d+"), "a password hash"),
    (re.compile(r"AKIA[0-9A-Z]{16}"), "a cloud access key"),
]


def test_no_secrets_in_the_repository():
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    found = []
    for name in filter(None, (f.decode() for f in files)):
        path = ROOT / name
        if name.endswith((".db", ".sqlite", ".sqlite3")) or Path(name).name in (".env", "tongban.env"):
            found.append(f"{name}: a database or environment file is committed")
            continue
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for pattern, what in SECRET_PATTERNS:
            if pattern.search(text):
                found.append(f"{name}: {what}")
    assert found == []


# ---------- button mashing: the per-kiosk rate limit ----------


def test_a_kiosk_gets_at_most_n_tickets_a_minute_then_a_named_429(hall, clock, hall_config):
    limit = hall_config.operations.kiosk_max_per_minute
    for _ in range(limit):
        assert hall.call("POST", "/tickets", hall.kiosk, json={"line": "A"}).status_code == 201
        clock.advance(seconds=1)
    r = hall.call("POST", "/tickets", hall.kiosk, json={"line": "A"})
    body = r.get_json()
    assert r.status_code == 429 and body["error"] == "kiosk_rate_limited"
    assert body["message_zh"] and body["message_en"] and 0 < body["retry_after_s"] <= 60
    # Staff are not limited, and the kiosk may go on once its minute has passed.
    assert hall.call("POST", "/tickets", hall.login("manager"), json={"line": "A"}).status_code == 201
    clock.advance(seconds=60 - limit + 1)
    assert hall.call("POST", "/tickets", hall.kiosk, json={"line": "A"}).status_code == 201


def test_a_burst_of_presses_at_once_is_counted_exactly(store, hall_config, clock):
    HallService(store, hall_config, clock).sync_with_config()
    limit = hall_config.operations.kiosk_max_per_minute
    results = []

    def press():
        own = Store(store.path, migrate=False)
        try:
            HallService(own, hall_config, clock).take_ticket(line="A", kiosk="kiosk-1")
            results.append("ok")
        except KioskRateLimited:
            results.append("limited")
        finally:
            own.close()

    threads = [threading.Thread(target=press) for _ in range(limit + 8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == limit and results.count("limited") == 8
    assert store.one("SELECT COUNT(*) FROM tickets")[0] == limit


def test_kiosk_limit_is_per_kiosk(store, hall_config, clock):
    service = HallService(store, hall_config, clock)
    service.sync_with_config()
    limit = hall_config.operations.kiosk_max_per_minute
    for _ in range(limit):
        service.take_ticket(line="A", kiosk="kiosk-1")
    with pytest.raises(KioskRateLimited):
        service.take_ticket(line="A", kiosk="kiosk-1")
    assert service.take_ticket(line="A", kiosk="kiosk-2").ticket.kiosk == "kiosk-2"
