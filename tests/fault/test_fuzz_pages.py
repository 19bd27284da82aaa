"""Fuzzing every route of the app, pages and API alike. For each rule and method of the url_map,
Hypothesis draws requests (path values, query strings, form fields, JSON and raw bodies) made of nasty
values: Unicode digits (², ٣, １), numbers past SQLite's integers, negative ones, edge dates, deep
nesting, wrong JSON types, NUL, emoji, RTL marks, very long strings, spreadsheet formulas. Each
request goes to every role the route lets in (the public, a kiosk, a rating pad, a hall display, a
clerk, the manager), with the CSRF token its pages carry and, under /api, its bearer token; the roles
it refuses get a few.

No answer may be a 5xx, and under /api every answer is JSON, never an HTML error page
(tongban/web/params.py, tongban/web/errors.py). The app runs with TESTING, so a crash is raised here
with the request that caused it. Flask's test client keeps it fast, and the examples are bounded.
tests/fault/test_fuzz_api.py fuzzes the API against its OpenAPI document on a live server.

Hypothesis gives each example a seeded ``Random`` that picks every part of the request, so the
weights below are what they say (its own strategies draw one_of branches and optional keys unevenly,
and rarely chose the field that matters). A failure prints the request; the seed per route makes a
run repeatable.
"""

from __future__ import annotations

import json
import os
import random
import re
import tempfile
import zlib
from datetime import datetime
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tongban.config import parse_hall_config
from tongban.queue import cases as case_domain
from tongban.queue import ratings, reports
from tongban.queue.clock import FakeClock
from tongban.queue.service import TICKET_ACTIONS, WINDOW_TRANSITIONS
from tongban.web.api.openapi import openapi_document
from tongban.web.app import create_app

from ..apiclient import make_hall_client
from ..conftest import CHEAP_HASHER, small_hall_doc
from ..roles import ROLES, every_role
from ..test_cases_pages import ID_1, PHONE_1
from ..test_ops_security import _requires_settings

# Per rule and method, each sent as every role the route lets in. TONGBAN_FUZZ_EXAMPLES=500 digs deeper
# (minutes, not seconds); the default keeps this file within about half a minute.
EXAMPLES = int(os.environ.get("TONGBAN_FUZZ_EXAMPLES", "40"))
REFUSED_EXAMPLES = 2  # of those, sent as the roles the route refuses too

# ---------- values ----------

#: What broke fields of each kind: digits that are no decimal digits ("²".isdigit() is true, int("²")
#: raises), numbers past 2^63, days whose neighbours are no dates.
NUMBER_CRASHERS = ["²", "1²", "³", "9" * 30, str(2**63), "-1", "0", "１", "٣"]
DAY_CRASHERS = ["9999-12-31", "0001-01-01", "2026-02-30", "２０２６-11-26", "20261126", "²"]
NASTY = [
    *NUMBER_CRASHERS,
    *DAY_CRASHERS,
    *("𝟙", "١٢٣", "9" * 19, str(2**64), "-9223372036854775809", "00", "1.5", "1e308", "NaN", "-0", "+1", "0x1f"),
    *(" 1", "1 ", "2026-13-01", "2026-W48-4", "2026-11-26T00:00"),
    *("\x00", "a\x00b", "😀", "\u202e1", "\u200f", "\ufeff", "\r\n", "\t"),
    *("x" * 5000, "汉" * 3000, "[" * 2000, "{" * 2000),
    *('=HYPERLINK("http://x","y")', "+1+1", "-1+1", "@SUM(A1)"),
    *("' OR 1=1 --", "<script>alert(1)</script>", "../../etc/passwd", "%", "%00", "%zz", "/", "//x", "\\"),
    *("line:A", "line:Z", "line:²", "window:²", "window:1", "window:" + "9" * 30, "window:-1", "window:"),
    *("true", "null", "[]", "{}", "", " ", "on", "yes"),
]

#: Values that lead somewhere in the seeded hall, so the fuzz reaches past the first lookup: by the
#: name of the URL rule's argument (the fixture adds the seeded tickets' and case's tokens).
IDS = ["1", "2", "3", "4", "5", "6"]
PATH = {
    **dict.fromkeys(("ticket_id", "case_id", "alert_id", "job_id", "proposal_id"), IDS),
    "number": ["1", "1", "1", "2"],  # window 1 has the pad and the clerk
    "action": sorted({*TICKET_ACTIONS, *WINDOW_TRANSITIONS, *case_domain.ACTIONS}),
    "decision": ["accept", "reject"],
    "kiosk_id": ["kiosk-1", "kiosk-1", "kiosk-2"],
    "code": ["rsj", "gjj", "M1", "M2", "M3"],
    "prefix": ["A", "B", "C"],
    "name": sorted(reports.COLUMNS),
    "lang": ["zh", "en"],
    "filename": ["css/base.css", "js/kiosk.js", "vendor/htmx.min.js"],
    "token": [],
}
DAYS = ["2026-11-26", "2026-11-25", "2026-12-01"]
#: Every query key a route reads, with values that work.
QUERY = {
    **dict.fromkeys(("page", "ticket", "opened"), ["1", "2"]),
    "idle": ["5", "30", "3600"],
    **dict.fromkeys(("day", "from", "to"), DAYS),
    "lang": ["zh", "en"],
    **dict.fromkeys(("elder", "voice"), ["0", "1"]),
    "q": ["sydj", "KS-2026", "13812345678", "2026-11-26", "EA123456785CN"],
    **dict.fromkeys(("next", "back"), ["/manage/", "/kiosk/kiosk-1", "//evil.example", "http://x"]),
    "token": ["t_nope"],
    "state": ["open", "received", "sent"],
    "due": ["near", "overdue", "flagged"],
    "matter": ["M1", "M3"],
    "department": ["rsj", "gjj"],
    "line": ["A", "B"],
    "period": ["day", "week", "month", "range"],
}
#: Every form field a page posts, with values that work.
FORM = {
    **dict.fromkeys(("window", "ticket", "number"), ["1", "2"]),
    **dict.fromkeys(("copies_0", "copies_1"), ["1", "2"]),
    "level": [str(level) for level in ratings.LEVELS],
    "username": ["manager", "clerk1"],
    **dict.fromkeys(("password", "new_password", "new_password_again"), ["correct-horse", "x"]),
    "reasons": ["unclear", "slow", "other"],
    **dict.fromkeys(("comment", "note", "reason", "address", "handling_dept", "applicant_name"), ["材料", "ok"]),
    "target": ["line:A", "line:B", "window:1", "window:2"],
    "reason_key": ["transfer_reason_other", "transfer_reason_other_dept"],
    "confirmed": ["yes"],
    "matter": ["M3", "M3", "M1", "line:A"],
    "printer": ["printer-1"],
    "line": ["A", "B"],
    "key": ["abcdefgh12345678"],
    **dict.fromkeys(("material_0", "material_1"), ["on"]),
    "id_number": [ID_1],
    "phone": [PHONE_1],
    "province": sorted(case_domain.PROVINCES)[:3],
    **dict.fromkeys(("waybill_out", "waybill_back"), ["EA123456785CN", "1012345678901"]),
    **dict.fromkeys(("sent_on", "returned_on", "delivered_on"), DAYS),
    "result": sorted(case_domain.RESULTS),
}
#: The fields each part of the app reads (by the rule's start or end): sent more often on its routes.
QUERY_OF = {
    "/kiosk/": ["idle", "page", "lang", "elder", "q", "back"],
    "/cases": ["page", "from", "to", "ticket", "q", "state", "due", "matter", "department", "opened"],
    "/manage/report": ["day", "period", "from", "to"],
    "/display/": ["voice"],
    "/login": ["next"],
    "/lang/": ["next"],
    "/enrol": ["token"],
}
FORM_OF = {
    "/login": ["username", "password", "window", "new_password", "new_password_again"],
    "/pad/rate": ["ticket", "level", "reasons", "comment"],
    "/transfer": ["ticket", "target", "note", "reason_key"],
    "/green": ["confirmed", "matter", "printer"],
    "/reprint": ["number", "printer"],
    "/late-return": ["number"],
    "/tickets": ["line", "matter", "key"],
    "/cases/": [key for key in FORM if key not in ("username", "password", "level", "target", "window")],
}

JSON_NUMBER_CRASHERS = [10**30, 2**63, -(2**63) - 1, -1, 0, 1.5, True, "1", "²", None, [1]]
JSON_LIST_CRASHERS = [[["x"]], [{"a": 1}], [1], [None], "unclear", {"a": 1}, ["unclear"] * 200]
JSON_TEXT_CRASHERS = [["x"], {"a": 1}, 1, True, "x" * 5000, "\x00", "=1+1", "²"]
JSON_TIME_CRASHERS = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "２０２６-11-26T10:00:00+08:00"]
JSON_TIME_CRASHERS += ["2026-11-26T10:00", "2026-02-30T10:00:00+08:00", 20261126]
#: Each JSON field: values that work, values that broke such fields.
JSON = {
    "username": (["manager", "clerk1"], JSON_TEXT_CRASHERS),
    "password": (["correct-horse"], JSON_TEXT_CRASHERS),
    "new_password": (["a-new-password"], JSON_TEXT_CRASHERS),
    "window": ([1, 2], JSON_NUMBER_CRASHERS),
    "matter": (["M1", "M3"], JSON_TEXT_CRASHERS),
    "line": (["A", "B"], JSON_TEXT_CRASHERS),
    "green": ([True, False], JSON_NUMBER_CRASHERS),
    "appointment_at": (["2026-11-26T10:00:00+08:00"], JSON_TIME_CRASHERS),
    "to_line": (["A", "B"], JSON_TEXT_CRASHERS),
    "reason": (["note"], JSON_TEXT_CRASHERS),
    "level": (list(ratings.LEVELS), JSON_NUMBER_CRASHERS),
    "reasons": ([["unclear"], ["slow", "other"], []], JSON_LIST_CRASHERS),
    "comment": (["材料"], JSON_TEXT_CRASHERS),
    "lines": ([["A"], ["A", "B"]], JSON_LIST_CRASHERS),
    "pinned": ([True, False], JSON_NUMBER_CRASHERS),
    "confirm": ([True, False], JSON_NUMBER_CRASHERS),
    "green_reason": (["elderly", "other"], JSON_TEXT_CRASHERS),
    # Booking rows (docs/appointments.md): a good one, and rows whose fields take every crasher above.
    "appointments": (
        [
            [
                {
                    "reference": "20991231001",
                    "matter": "M1",
                    "slot_start": "2099-12-31 09:00",
                    "slot_end": "2099-12-31 09:30",
                    "id_number": "320102198001011238",
                    "phone": "13812345678",
                }
            ],
            [],
        ],
        JSON_LIST_CRASHERS
        + [[{field: bad}] for field in ("reference", "slot_start", "id_number") for bad in JSON_TEXT_CRASHERS]
        + [[{"reference": "1234", "matter": "M1", "slot_start": t, "slot_end": t}] for t in JSON_TIME_CRASHERS],
    ),
}
RAW_BODIES = [
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 50_000 + "1" + "}" * 50_000,
    '{"level": 1, "reasons": ' + "[" * 5000 + "]" * 5000 + "}",
    "{",
    "null",
    '"x"',
    "\xff\xfe",
    '{"window": 1e999}',
    '{"window": NaN}',
    '{"level": Infinity}',
]


# ---------- requests ----------


def crashers_for(works: list) -> list:
    return DAY_CRASHERS if works == DAYS else NUMBER_CRASHERS if all(w.isdigit() for w in works) else NASTY


def any_text(rnd: random.Random) -> str:
    """A short string of any characters but surrogates (a URL cannot carry those)."""
    return "".join(
        chr(rnd.choice((rnd.randrange(32, 127), rnd.randrange(0xA0, 0xD800)))) for _ in range(rnd.randrange(9))
    )


def value(rnd: random.Random, works: list[str]) -> str:
    """A value for a field: one that works (so the route goes on to the next field), one that broke
    such fields, anything nasty, or any text."""
    roll = rnd.random()
    if roll < 0.35:
        return rnd.choice(works)
    if roll < 0.7:
        return rnd.choice(crashers_for(works))
    return rnd.choice(NASTY) if roll < 0.9 else any_text(rnd)


def fields(rnd: random.Random, known: dict[str, list[str]], mine: list[str]) -> dict:
    """Some fields, or every field the route reads with one or several hostile: the route reads them in
    its own order, and a crash in any of them shows."""
    mode = rnd.choice(["some", "one", "one", "hostile"])
    if mode == "some":
        keys = [k for k in known if rnd.random() < (0.6 if k in mine else 0.15)]
        return {k: value(rnd, known[k]) for k in keys}
    keys = mine or list(known)
    out = {k: rnd.choice(known[k]) for k in keys}
    targets = [rnd.choice(keys)] if mode == "one" else [k for k in keys if rnd.random() < 0.5]
    for k in targets:
        out[k] = rnd.choice(crashers_for(known[k]))
    return out


def json_value(rnd: random.Random, depth: int = 0):
    roll = rnd.random()
    if depth < 3 and roll < 0.15:
        return [json_value(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    if depth < 3 and roll < 0.3:
        return {value(rnd, ["k"]): json_value(rnd, depth + 1) for _ in range(rnd.randrange(4))}
    pool = [None, True, False, 0, 1, 2, -1, 2**63, 10**30, 1.5, -0.0, 1e308, "A", "M1", "unclear"]
    return rnd.choice(pool) if roll < 0.6 else value(rnd, ["1"])


def json_body(rnd: random.Random, keys: list[str]):
    """A JSON object of an operation's fields (the API refuses unknown ones before reading any), or
    anything JSON."""
    mode = rnd.choice(["some", "one", "one", "hostile", "any"])
    if mode == "any":
        return json_value(rnd)
    if mode == "some":
        picked = [k for k in keys if rnd.random() < 0.5]
        return {k: rnd.choice(JSON[k][0] + JSON[k][1]) if rnd.random() < 0.8 else json_value(rnd) for k in picked}
    out = {k: rnd.choice(JSON[k][0]) for k in keys}
    targets = [rnd.choice(keys)] if mode == "one" else [k for k in keys if rnd.random() < 0.5]
    for k in targets:
        out[k] = rnd.choice(JSON[k][1])
    return out


def body_fields(rule_text: str, method: str) -> list[str]:
    """The JSON fields of an API operation, from its OpenAPI document; else every field the API knows."""
    path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule_text)
    operation = openapi_document()["paths"].get(path, {}).get(method.lower(), {})
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    return sorted(schema.get("properties", {})) or sorted(JSON)


def _of(table: dict[str, list[str]], rule_text: str) -> list[str]:
    return next((keys for part, keys in table.items() if rule_text.startswith(part) or rule_text.endswith(part)), [])


def build(rnd: random.Random, rule, method: str, tokens: list[str]) -> dict:
    path = rule.rule
    for name in sorted(rule.arguments):
        known = PATH.get(name, IDS) + (tokens if name == "token" else [])
        text = rnd.choice(known) if known and rnd.random() < 0.75 else value(rnd, IDS)
        path = re.sub(rf"<(?:[a-z]+:)?{name}>", lambda _m, text=text: quote(text, safe=""), path)
    query = list(fields(rnd, QUERY, _of(QUERY_OF, rule.rule)).items())
    if rnd.random() < 0.2:
        query.append((any_text(rnd), value(rnd, ["1"])))
    if query:
        path += "?" + urlencode(query)
    request: dict = {"path": path, "method": method, "headers": {"HX-Request": "true"} if rnd.random() < 0.5 else {}}
    if method == "GET":
        return request
    api = rule.rule.startswith("/api/")
    kind = rnd.choice(
        ["none", "form", "json", "json", "json", "raw"] if api else ["none", "form", "form", "form", "json", "raw"]
    )
    if kind == "form":
        form = fields(rnd, FORM, _of(FORM_OF, rule.rule))
        if "reasons" in form and rnd.random() < 0.5:
            form["reasons"] = [form["reasons"], value(rnd, FORM["reasons"])]
        request["form"] = form
    elif kind == "json":
        request["data"] = json.dumps(json_body(rnd, body_fields(rule.rule, method)))
        request["content_type"] = "application/json"
    elif kind == "raw":
        request["data"] = rnd.choice(RAW_BODIES)
        request["content_type"] = "application/json"
    return request


@st.composite
def requests(draw, rule, method: str, tokens: list[str]) -> dict:
    return build(draw(st.randoms(use_true_random=True)), rule, method, tokens)


# ---------- the hall and the test ----------


@pytest.fixture(scope="module")
def fuzz_hall(tmp_path_factory):
    """A hall with something in it: tickets waiting, called, served and done, an open case, a print job."""
    from tongban.queue import accounts as auth

    tmp_path = tmp_path_factory.mktemp("fuzz-pages")
    doc = small_hall_doc()
    doc["printers"] = [{"id": "printer-1", "url": "dummy://"}]
    doc["kiosks"] = [{"id": "kiosk-1", "name": "1号取号机", "printer": "printer-1"}]
    # No quota or kiosk limit: after a few hundred tickets every take would be refused before it is read.
    for line in doc["lines"]:
        line.pop("daily_quota", None)
    doc["operations"] = {"kiosk_max_per_minute": 1_000_000}
    config = parse_hall_config(doc, "fuzz-hall")
    clock = FakeClock(datetime(2026, 11, 26, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth, "_hasher", CHEAP_HASHER)
        hall = make_hall_client(tmp_path, config, clock)
        roles = every_role(hall, tmp_path / "api.db", clock)
    manager = roles["manager"].bearer
    for what in ({"matter": "M3"}, {"line": "A"}, {"line": "A"}, {"line": "A"}, {"line": "B"}):
        assert hall.call("POST", "/tickets", hall.kiosk, json=what).status_code == 201
    for window, finish in ((2, False), (1, True)):
        hall.call("POST", f"/windows/{window}/open", manager)
        ticket = hall.call("POST", f"/windows/{window}/next", manager).get_json()["id"]
        hall.call("POST", f"/tickets/{ticket}/start", manager)
        if finish:
            hall.call("POST", f"/tickets/{ticket}/finish", manager)
    hall.call("POST", "/windows/1/next", manager)
    served = hall.call("GET", "/windows", manager).get_json()[1]["current"]["id"]  # window 2: M3, a proxy matter
    form = {"ticket": str(served), "applicant_name": "张三", "id_number": ID_1, "phone": PHONE_1, "address": "文三路"}
    opened = roles["manager"].open("/cases/new", "POST", form={**form, "material_0": "on"})
    assert opened.status_code == 303
    case_page = roles["manager"].open(opened.headers["Location"]).get_data(as_text=True)
    tokens = [t["status_token"] for t in (hall.call("GET", f"/tickets/{n}", manager).get_json() for n in (1, 2))]
    tokens += re.findall(r"/c/([A-Za-z0-9_-]{16,})", case_page)
    hall.tokens = tokens
    return hall, roles


def _rules(app) -> list[tuple[str, str, tuple | None]]:
    """(rule, method, who may use it) for every route: the access settings of its view, None if public."""
    return sorted(
        (
            (rule.rule, method, _requires_settings(app.view_functions[rule.endpoint]))
            for rule in app.url_map.iter_rules()
            for method in rule.methods - {"HEAD", "OPTIONS"}
        ),
        key=lambda case: case[:2],
    )


def _allowed(role: str, settings: tuple | None) -> bool:
    """Whether the view lets this role in (access.requires / page_requires), so the fuzz reaches its code."""
    if settings is None:
        return True
    staff, manager, terminals = settings
    return role in terminals or role == "manager" or (role == "clerk" and staff and not manager)


def _cases() -> list[tuple[str, str, tuple[str, ...]]]:
    """(rule, method, the roles it lets in) for every route of the app."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"HALL": parse_hall_config(small_hall_doc(), "x"), "DATABASE": f"{folder}/x.db"})
        return [
            (rule, method, tuple(role for role in ROLES if _allowed(role, settings)))
            for rule, method, settings in _rules(app)
        ]


CASES = _cases()


def test_every_rule_and_role_is_fuzzed(fuzz_hall):
    hall, _roles = fuzz_hall
    assert [(rule, method) for rule, method, _ in _rules(hall.app)] == [(rule, method) for rule, method, _ in CASES]
    assert len(CASES) > 60 and {role for *_, allowed in CASES for role in allowed} == set(ROLES)


@pytest.mark.parametrize(("rule_text", "method", "allowed"), CASES, ids=[f"{m} {r}" for r, m, _a in CASES])
def test_no_route_answers_5xx_and_the_api_answers_json(fuzz_hall, rule_text, method, allowed):
    """Each request goes to every role the route lets in (a public route: the public and one other role
    in turn); the roles it refuses get the first few (they stop at the access check, which must not
    answer 5xx either)."""
    hall, roles = fuzz_hall
    rule = next(r for r in hall.app.url_map.iter_rules() if r.rule == rule_text)
    who = [role for role in ROLES if not (role in ("clerk", "manager") and rule_text in ("/logout", "/api/v1/logout"))]
    sent = {"n": 0}  # signing the fuzzer's own staff out (above) would turn their later requests into redirects

    @seed(zlib.crc32(f"{method} {rule_text}".encode()))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(request=requests(rule, method, hall.tokens))
    def fuzz(request):
        sent["n"] += 1
        public = len(allowed) == len(ROLES)
        for role in who:
            if public:
                send = role == "anonymous" or role == ROLES[1 + sent["n"] % (len(ROLES) - 1)]
            else:
                send = role in allowed or sent["n"] <= REFUSED_EXAMPLES
            if send:
                _check(roles[role], dict(request, headers=dict(request["headers"])))

    fuzz()


def _check(role, request: dict) -> None:
    path, method = request.pop("path"), request.pop("method")
    response = role.open(path, method, **request)
    try:
        where = f"{role.name} {method} {path[:200]!r}: {response.status_code}"
        assert response.status_code < 500, where
        # Every refusal under /api is JSON (werkzeug's routing redirects, e.g. for "//", are not refusals).
        if path.startswith("/api/") and response.status_code >= 400:
            assert response.mimetype == "application/json", f"{where} {response.mimetype}"
    finally:
        response.close()  # live streams: let go of the listener
