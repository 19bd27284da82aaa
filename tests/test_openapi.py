"""The OpenAPI description stays true: every route is described, and real answers match it."""

from __future__ import annotations

import re

import jsonschema
import pytest

from tongban.web.api.openapi import openapi_document

from .apiclient import make_hall_client


@pytest.fixture
def hall(tmp_path, hall_config, clock):
    return make_hall_client(tmp_path, hall_config, clock)


def _template(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def test_every_route_is_described_and_nothing_else(hall):
    doc = openapi_document()
    routes = set()
    for rule in hall.app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1") or rule.rule == "/healthz":
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((_template(rule.rule), method.lower()))
    described = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes == described


def _validator(doc, path, method, status):
    op = doc["paths"][path][method]
    assert str(status) in op["responses"], f"{method.upper()} {path} answered {status}, which is not described"
    schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": doc["components"]})


def test_answers_match_the_description(hall, clock):
    doc = openapi_document()

    def check(path, method, response):
        _validator(doc, path, method, response.status_code).validate(response.get_json())
        return response.get_json()

    check("/healthz", "get", hall.http.get("/healthz"))
    check("/api/v1/openapi.json", "get", hall.call("GET", "/openapi.json"))
    check("/api/v1/matters", "get", hall.call("GET", "/matters"))
    check("/api/v1/login", "post", hall.call("POST", "/login", json={"username": "x", "password": "y"}))
    c1 = check(
        "/api/v1/login",
        "post",
        hall.call("POST", "/login", json={"username": "clerk1", "password": "correct-horse", "window": 1}),
    )["token"]
    manager = hall.login("manager")
    t = check("/api/v1/tickets", "post", hall.call("POST", "/tickets", hall.kiosk, json={"line": "A"}))
    check("/api/v1/tickets", "post", hall.call("POST", "/tickets", hall.kiosk, json={"line": "Z"}))
    check("/api/v1/tickets", "post", hall.call("POST", "/tickets", hall.kiosk, json={"line": 1}))
    check("/api/v1/tickets", "post", hall.call("POST", "/tickets", c1, json={"line": "A", "green": True}))
    check("/api/v1/tickets/{ticket_id}", "get", hall.call("GET", f"/tickets/{t['id']}", manager))
    check("/api/v1/tickets/{ticket_id}", "get", hall.call("GET", "/tickets/999", manager))
    check("/api/v1/windows/{number}/{action}", "post", hall.call("POST", "/windows/1/open", c1))
    check("/api/v1/windows/{number}/{action}", "post", hall.call("POST", "/windows/1/open", c1))
    check("/api/v1/windows/{number}/next", "post", hall.call("POST", "/windows/1/next", c1))
    check("/api/v1/windows/{number}/next", "post", hall.call("POST", "/windows/2/next", c1))
    for action in ("recall", "start", "suspend", "resume", "finish", "finish"):
        check("/api/v1/tickets/{ticket_id}/{action}", "post", hall.call("POST", f"/tickets/{t['id']}/{action}", c1))
    check(
        "/api/v1/tickets/{ticket_id}/{action}",
        "post",
        hall.call("POST", f"/tickets/{t['id']}/transfer", manager, json={}),
    )
    check("/api/v1/windows", "get", hall.call("GET", "/windows", hall.kiosk))
    check(
        "/api/v1/windows/{number}/lines",
        "put",
        hall.call("PUT", "/windows/1/lines", manager, json={"lines": ["A", "B"], "pinned": True}),
    )
    check("/api/v1/windows/{number}/lines", "put", hall.call("PUT", "/windows/1/lines", manager, json={"lines": ["Q"]}))
    check("/api/v1/windows/{number}/lines", "put", hall.call("PUT", "/windows/1/lines", c1, json={"lines": ["A"]}))
    check("/api/v1/lines", "get", hall.call("GET", "/lines", hall.kiosk))
    check("/api/v1/lines", "get", hall.call("GET", "/lines"))
    closed = check(
        "/api/v1/lines/{prefix}/close",
        "post",
        hall.call("POST", "/lines/B/close", manager, json={"reason": "系统升级 / System upgrade"}),
    )
    assert closed["closed"] and closed["closed_by"] == "manager"
    assert check("/api/v1/lines", "get", hall.call("GET", "/lines", hall.kiosk))[1]["closed_reason"]
    check("/api/v1/tickets", "post", hall.call("POST", "/tickets", hall.kiosk, json={"line": "B"}))
    check("/api/v1/lines/{prefix}/close", "post", hall.call("POST", "/lines/B/close", manager, json={"reason": " "}))
    check("/api/v1/lines/{prefix}/close", "post", hall.call("POST", "/lines/B/close", manager, json={}))
    check("/api/v1/lines/{prefix}/close", "post", hall.call("POST", "/lines/Q/close", manager, json={"reason": "x"}))
    check("/api/v1/lines/{prefix}/close", "post", hall.call("POST", "/lines/B/close", c1, json={"reason": "x"}))
    check("/api/v1/lines/{prefix}/open", "post", hall.call("POST", "/lines/B/open", hall.kiosk))
    assert not check("/api/v1/lines/{prefix}/open", "post", hall.call("POST", "/lines/B/open", manager))["closed"]
    check("/api/v1/logout", "post", hall.call("POST", "/logout", c1))
    check("/api/v1/logout", "post", hall.call("POST", "/logout", c1))
