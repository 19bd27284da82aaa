"""Browsers of every role for the Flask test client: staff signed in through the login page (with its
CSRF token), terminals enrolled through /enrol, and the public. Each carries the CSRF token its pages
give htmx, and an API bearer token for the same role."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tongban.queue.accounts import Accounts
from tongban.queue.store import Store

from .apiclient import PASSWORD, HallClient, csrf_token

ROLES = ("anonymous", "kiosk", "pad", "display", "clerk", "manager")


@dataclass
class Role:
    name: str
    client: object  # flask.testing.FlaskClient
    csrf: str
    bearer: str | None

    def open(self, path: str, method: str = "GET", *, form: dict | None = None, **kw):
        """A request as this role: forms carry the CSRF token, /api requests the bearer token."""
        headers = dict(kw.pop("headers", None) or {})
        headers.setdefault("X-CSRFToken", self.csrf)
        if path.startswith("/api/") and self.bearer:
            headers.setdefault("Authorization", f"Bearer {self.bearer}")
        if form is not None:
            kw["data"] = {"csrf_token": self.csrf, **form}
        return self.client.open(path, method=method, headers=headers, **kw)


def _token_of(page: str) -> str:
    return re.search(r'X-CSRFToken": "([^"]+)"', page).group(1)


def staff_role(hall: HallClient, username: str, window: int | None = None) -> Role:
    client = hall.app.test_client()
    page = client.get("/login").get_data(as_text=True)
    form = {"csrf_token": csrf_token(page), "username": username, "password": PASSWORD, "window": str(window or "")}
    r = client.post("/login", data=form)
    assert r.status_code == 302, (username, r.status_code)
    home = client.get(f"/window/{window}" if window else "/manage/")
    assert home.status_code == 200, (username, home.status_code)
    name = "clerk" if window else "manager"
    return Role(name, client, _token_of(home.get_data(as_text=True)), hall.login(username, window))


def terminal_role(hall: HallClient, name: str, token: str) -> Role:
    client = hall.app.test_client()
    r = client.get(f"/enrol?token={token}")
    assert r.status_code == 302, (name, r.status_code)
    home = client.get(r.headers["Location"])
    assert home.status_code == 200, (name, home.status_code)
    return Role(name, client, _token_of(home.get_data(as_text=True)), token)


def anonymous_role(hall: HallClient) -> Role:
    client = hall.app.test_client()
    return Role("anonymous", client, _token_of(client.get("/login").get_data(as_text=True)), None)


def every_role(hall: HallClient, db_path, clock) -> dict[str, Role]:
    """One browser per role: the public, a kiosk, window 1's pad, a hall display, window 1's clerk, the manager."""
    store = Store(db_path)
    accounts = Accounts(store, clock)
    pad = accounts.add_terminal("pad-1", "pad", "1号评价器", window=1)
    display = accounts.add_terminal("hall-display", "display", "综合屏")
    store.close()
    return {
        "anonymous": anonymous_role(hall),
        "kiosk": terminal_role(hall, "kiosk", hall.kiosk),
        "pad": terminal_role(hall, "pad", pad),
        "display": terminal_role(hall, "display", display),
        "clerk": staff_role(hall, "clerk1", window=1),
        "manager": staff_role(hall, "manager"),
    }
