"""A Flask test client wired to a temp hall, with demo staff and a kiosk terminal enrolled."""

from __future__ import annotations

import re

from tongban.queue.accounts import Accounts
from tongban.queue.store import Store
from tongban.web.app import create_app

PASSWORD = "correct-horse"


def csrf_token(page: str) -> str:
    """The CSRF token a page's form carries (pages post it back, as a browser would)."""
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


class HallClient:
    def __init__(self, app, kiosk_token: str):
        self.app = app
        self.http = app.test_client()
        self.kiosk = kiosk_token

    def login(self, username: str, window: int | None = None) -> str:
        body = {"username": username, "password": PASSWORD}
        if window is not None:
            body["window"] = window
        r = self.http.post("/api/v1/login", json=body)
        assert r.status_code == 200, r.get_json()
        return r.get_json()["token"]

    def call(self, method: str, path: str, token: str | None = None, *, headers: dict | None = None, **kw):
        headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        return self.http.open(f"/api/v1{path}", method=method, headers=headers, **kw)


def make_hall_client(tmp_path, hall_config, clock) -> HallClient:
    db = str(tmp_path / "api.db")
    app = create_app({"HALL": hall_config, "DATABASE": db, "CLOCK": clock, "TESTING": True})
    store = Store(db)
    accounts = Accounts(store, clock)
    accounts.add("manager", PASSWORD, name="经理", role="manager")
    for n in (1, 2):
        accounts.add(f"clerk{n}", PASSWORD, name=f"{n}号窗口", role="clerk")
    kiosk = accounts.add_terminal("kiosk-1", "kiosk", "1号取号机")
    store.close()
    return HallClient(app, kiosk)
