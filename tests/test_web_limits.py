"""What one request may carry (tongban/web/limits.py): a body of at most MAX_BODY_BYTES, answered 413
at once, and JSON nested at most MAX_JSON_DEPTH deep, answered 400 before any parser sees it. Both
are JSON with the zh/en message under /api, never Flask's HTML error page or a 500."""

from __future__ import annotations

import io
import json

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from tongban.web.limits import MAX_BODY_BYTES, MAX_JSON_DEPTH, json_too_deep

from .apiclient import make_hall_client


@pytest.fixture
def hall(tmp_path, hall_config, clock):
    return make_hall_client(tmp_path, hall_config, clock)


def raw_post(app, environ_update: dict) -> tuple[int, dict]:
    """A POST to the login with its WSGI input set by hand, as a server hands it over."""
    environ = EnvironBuilder(path="/api/v1/login", method="POST", content_type="application/json").get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ.update(environ_update)
    body, status, _headers = run_wsgi_app(app, environ, buffered=True)
    return int(status.split()[0]), json.loads(b"".join(body))


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_the_scan_counts_brackets_outside_strings_only():
    assert not json_too_deep(b'{"a": [1, 2, {"b": []}]}')
    assert not json_too_deep(nested(MAX_JSON_DEPTH))
    assert json_too_deep(nested(MAX_JSON_DEPTH + 1))
    assert json_too_deep(b'{"a":' * 100_000 + b"1" + b"}" * 100_000)
    inside = json.dumps({"username": "[" * 1000 + '\\"{' * 500, "password": "x"}).encode()
    assert not json_too_deep(inside)
    # An escaped quote does not end the string, so the brackets after it are still inside it.
    assert not json_too_deep(b'["\\"' + b"[" * 100 + b'"]')
    # Brackets after an unterminated string count: such a body is refused either way.
    assert json_too_deep(b'"' + nested(100))


@pytest.mark.parametrize("path", ["/api/v1/login", "/api/v1/tickets"])
def test_deeply_nested_json_is_a_400_json_answer_before_parsing(hall, path):
    for body in (nested(100_000), b'{"username":' * 50_000 + b"1" + b"}" * 50_000):
        r = hall.http.post(path, data=body, content_type="application/json")
        assert r.status_code == 400 and r.is_json, r.get_data(as_text=True)[:200]
        assert r.get_json()["error"] == "json_too_deep"
        assert "嵌套" in r.get_json()["message_zh"] and "nested" in r.get_json()["message_en"]


def test_json_nested_up_to_the_limit_reaches_the_route(hall):
    value: object = 1
    for _ in range(MAX_JSON_DEPTH - 1):
        value = [value]
    r = hall.http.post("/api/v1/login", json={"username": value, "password": "x"})
    assert r.status_code == 400 and r.get_json()["error"] == "bad_request" and r.get_json()["field"] == "username"
    r = hall.http.post("/api/v1/login", json={"username": "[" * 5000, "password": "wrong-password"})
    assert r.status_code == 401 and r.get_json()["error"] == "bad_login"


def test_a_body_over_the_limit_is_a_413_json_answer(hall):
    r = hall.http.post("/api/v1/login", data=b"x" * (MAX_BODY_BYTES + 1), content_type="application/json")
    assert r.status_code == 413 and r.get_json()["error"] == "body_too_large"
    assert "过大" in r.get_json()["message_zh"] and "too large" in r.get_json()["message_en"]
    assert hall.call("POST", "/tickets", token=hall.kiosk, json={"line": "A"}).status_code == 201


def test_a_body_that_only_says_its_size_is_refused_without_being_read(hall):
    """Content-Length says 300 MB: refused from the header; the body stream is never read."""

    class Unread(io.RawIOBase):
        def read(self, *_):
            raise AssertionError("the body was read")

        readinto = read

    status, body = raw_post(hall.app, {"wsgi.input": Unread(), "CONTENT_LENGTH": str(300 * 2**20)})
    assert status == 413 and body["error"] == "body_too_large"


def test_a_streamed_body_without_a_length_stops_at_the_limit(hall):
    """Chunked uploads carry no Content-Length: the server marks the input terminated and the body
    is read only up to the limit, then refused."""
    sent = []

    class Endless(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            buffer[:] = b"[" * len(buffer)
            sent.append(len(buffer))
            return len(buffer)

    status, body = raw_post(hall.app, {"wsgi.input": io.BufferedReader(Endless()), "wsgi.input_terminated": True})
    assert status == 413 and body["error"] == "body_too_large"
    assert sum(sent) < 2 * MAX_BODY_BYTES


def test_pages_are_refused_in_plain_words(hall):
    r = hall.http.post("/login", data={"username": "x" * (MAX_BODY_BYTES + 1)})
    assert r.status_code == 413 and r.mimetype == "text/plain"
    assert "请求内容过大" in r.get_data(as_text=True) and "too large" in r.get_data(as_text=True)
