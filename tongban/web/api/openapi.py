"""The OpenAPI 3.1 description of /api/v1, kept true by tests/test_openapi.py."""

from __future__ import annotations

from ... import __version__
from ...queue import ratings
from ...queue.search import TIERS
from ...queue.service import GREEN_REASONS, LINE_REASON_MAX, TICKET_ACTIONS, WINDOW_TRANSITIONS
from ..params import MAX_ID

_ERROR = {"$ref": "#/components/schemas/Error"}
# The action names come from the domain's transition tables, never written out here.
_TICKET_ACTIONS = sorted(TICKET_ACTIONS)
_WINDOW_ACTIONS = sorted(WINDOW_TRANSITIONS)

SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error", "message_zh", "message_en"],
        "properties": {
            "error": {"type": "string"},
            "message_zh": {"type": "string"},
            "message_en": {"type": "string"},
            "field": {"type": "string"},
        },
    },
    "Estimate": {
        "type": "object",
        "required": ["minutes", "low", "high"],
        "additionalProperties": False,
        "properties": {
            "minutes": {"type": "integer", "minimum": 0},
            "low": {"type": "integer", "minimum": 0},
            "high": {"type": "integer", "minimum": 0},
        },
    },
    "Ticket": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "id",
            "number",
            "line",
            "matter",
            "state",
            "green",
            "transferred",
            "window",
            "recalls",
            "service_day",
            "people_ahead",
            "estimate",
            "issued_at",
            "status_token",
        ],
        "properties": {
            "id": {"type": "integer"},
            "number": {"type": "string", "pattern": "^[A-Z][0-9]{2,4}$"},
            "line": {"type": "string"},
            "matter": {"type": ["string", "null"]},
            "state": {"enum": ["waiting", "called", "serving", "suspended", "done", "no_show", "cancelled", "expired"]},
            "green": {"type": "boolean"},
            "green_reason": {
                "enum": [*GREEN_REASONS, None],
                "description": "why a green-channel ticket has priority, as the issuing staff recorded it",
            },
            "transferred": {"type": "boolean"},
            "transfer": {
                "type": ["object", "null"],
                "description": "where a transferred ticket went and why, as its citizen is told",
                "properties": {
                    "to_line": {"type": "string"},
                    "reason_zh": {"type": "string"},
                    "reason_en": {"type": "string"},
                },
            },
            "window": {"type": ["integer", "null"]},
            "recalls": {"type": "integer"},
            "service_day": {"type": "string", "format": "date"},
            "next": {
                "type": "boolean",
                "description": "nobody is ahead and a window will call it (its band starts at 0)",
            },
            "people_ahead": {"type": "integer", "minimum": 0},
            "estimate": {
                "oneOf": [{"$ref": "#/components/schemas/Estimate"}, {"type": "null"}],
                "description": "null: no open, staffed window serves this line now, so no minutes are promised",
            },
            "windows": {"type": "array", "items": {"type": "integer"}, "description": "windows expected to call it"},
            "opens_at": {
                "type": ["string", "null"],
                "description": "with no estimate: HH:MM when the hall opens again, if it is closed now",
            },
            "issued_at": {"type": "string", "format": "date-time"},
            "status_token": {
                "type": "string",
                "description": "unguessable token for the public status page /t/<token>",
            },
            "print_job": {
                "type": ["integer", "null"],
                "description": "on issue: the slip's print job on the kiosk's printer (null: no printer)",
            },
            "events": {"type": "array", "items": {"type": "object"}, "description": "staff only"},
        },
    },
    "Window": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "number",
            "name",
            "name_en",
            "location",
            "location_en",
            "phone",
            "state",
            "able",
            "serving",
            "pinned",
            "clerk",
            "current",
        ],
        "properties": {
            "number": {"type": "integer"},
            "name": {"type": "string", "description": "Chinese"},
            "name_en": {"type": "string", "description": "English; empty when the hall file gives none"},
            "location": {"type": "string", "description": "Chinese"},
            "location_en": {"type": "string", "description": "English; empty when the hall file gives none"},
            "phone": {"type": "string"},
            "state": {"enum": ["open", "paused", "closed"]},
            "able": {"type": "array", "items": {"type": "string"}},
            "serving": {"type": "array", "items": {"type": "string"}},
            "pinned": {"type": "boolean"},
            "clerk": {"type": ["string", "null"]},
            "current": {
                "type": ["object", "null"],
                "properties": {"id": {"type": "integer"}, "number": {"type": "string"}, "state": {"type": "string"}},
            },
        },
    },
    "Line": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "prefix",
            "name_zh",
            "name_en",
            "waiting",
            "longest_wait_min",
            "estimate",
            "windows",
            "closed",
            "closed_reason",
            "service_min",
        ],
        "properties": {
            "prefix": {"type": "string"},
            "name_zh": {"type": "string"},
            "name_en": {"type": "string"},
            "waiting": {"type": "integer", "minimum": 0},
            "longest_wait_min": {"type": "number", "minimum": 0},
            "estimate": {
                "oneOf": [{"$ref": "#/components/schemas/Estimate"}, {"type": "null"}],
                "description": "what a ticket taken now is told; null while no open, staffed window serves the line",
            },
            "opens_at": {"type": ["string", "null"], "description": "with no estimate: HH:MM the hall opens again"},
            "windows": {"type": "array", "items": {"type": "integer"}},
            "closed": {"type": "boolean"},
            "closed_reason": {
                "type": ["string", "null"],
                "description": "why the manager closed the line (the kiosks show it); null while open",
            },
            "service_min": {"type": ["number", "null"]},
        },
    },
    "LineState": {
        "type": "object",
        "additionalProperties": False,
        "required": ["prefix", "name_zh", "name_en", "closed", "reason", "closed_by", "closed_at"],
        "properties": {
            "prefix": {"type": "string"},
            "name_zh": {"type": "string"},
            "name_en": {"type": "string"},
            "closed": {"type": "boolean"},
            "reason": {
                "type": ["string", "null"],
                "description": "shown on the kiosks; 'Chinese text / English text' shows both",
            },
            "closed_by": {"type": ["string", "null"]},
            "closed_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "Matter": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "code",
            "name_zh",
            "name_en",
            "aliases",
            "department",
            "department_zh",
            "batch",
            "mode",
            "line",
            "time_limit_days",
            "fee",
            "materials",
        ],
        "properties": {
            "code": {"type": "string"},
            "name_zh": {"type": "string"},
            "name_en": {"type": "string"},
            "aliases": {"type": "array", "items": {"type": "string"}, "description": "everyday names people search by"},
            "department": {"type": "string"},
            "department_zh": {"type": "string"},
            "batch": {"enum": [1, 2, 3]},
            "mode": {"enum": ["on-site", "proxy", "multi-place"]},
            "line": {"type": "string"},
            "time_limit_days": {"type": "integer"},
            "fee": {"type": "string"},
            "materials": {"type": "array", "items": {"type": "string"}},
            "match": {
                "enum": list(TIERS),
                "description": "with q only: how it matched, best first: the name or its beginning, an everyday "
                "name (alias or equivalent word), a part of the name, a fuzzy (pinyin) match",
            },
        },
    },
    "Session": {
        "type": "object",
        "additionalProperties": False,
        "required": ["token", "role", "window", "name", "expires_at"],
        "properties": {
            "token": {"type": "string"},
            "role": {"enum": ["clerk", "manager"]},
            "window": {"type": ["integer", "null"]},
            "name": {"type": "string"},
            "expires_at": {"type": "string", "format": "date-time"},
        },
    },
    "Rating": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "ticket",
            "level",
            "level_zh",
            "reasons",
            "comment",
            "rated",
            "window",
            "clerk",
            "matter",
            "line",
            "number",
        ],
        "properties": {
            "ticket": {"type": "integer"},
            "level": {"type": ["integer", "null"], "minimum": 1, "maximum": 5},
            "level_zh": {"type": "string"},
            "reasons": {"type": "array", "items": {"type": "string"}},
            "comment": {"type": ["string", "null"]},
            "rated": {"type": "boolean"},
            "window": {"type": ["integer", "null"]},
            "clerk": {"type": ["string", "null"]},
            "matter": {"type": ["string", "null"]},
            "line": {"type": "string"},
            "number": {"type": "string"},
        },
    },
    "AppointmentRow": {
        "type": "object",
        "description": "one booking (docs/appointments.md); times 'YYYY-MM-DD HH:MM' in hall time, or ISO 8601 "
        "with an offset. The ID number is kept only as the hall's keyed hash and masked; of the phone only "
        "its last four digits",
        "required": ["reference", "matter", "slot_start", "slot_end"],
        "properties": {
            "reference": {"type": "string", "pattern": "^[0-9]{4,20}$"},
            "matter": {"type": "string", "description": "a matter code of the hall file"},
            "slot_start": {"type": "string"},
            "slot_end": {"type": "string", "description": "after slot_start, on the same day, at most 240 min on"},
            "id_number": {"type": "string", "description": "18-character resident ID number (optional)"},
            "phone": {"type": "string", "description": "5 to 20 digits (optional)"},
            "hall": {"type": "string", "description": "this hall's id (optional)"},
        },
    },
    "AppointmentsImported": {
        "type": "object",
        "additionalProperties": False,
        "required": ["added", "unchanged", "references"],
        "properties": {
            "added": {"type": "integer", "minimum": 0},
            "unchanged": {
                "type": "integer",
                "minimum": 0,
                "description": "references already booked with the same details",
            },
            "references": {"type": "array", "items": {"type": "string"}, "description": "the references added"},
        },
    },
    "AppointmentsRefused": {
        "type": "object",
        "required": ["error", "message_zh", "message_en"],
        "properties": {
            "error": {"type": "string"},
            "message_zh": {"type": "string"},
            "message_en": {"type": "string"},
            "field": {"type": "string"},
            "problems": {
                "type": "array",
                "description": "invalid_appointments: every problem, by row (from 1) and field; nothing was booked",
                "items": {
                    "type": "object",
                    "required": ["row", "field", "message_zh", "message_en"],
                    "properties": {
                        "row": {"type": "integer"},
                        "field": {"type": "string"},
                        "message_zh": {"type": "string"},
                        "message_en": {"type": "string"},
                    },
                },
            },
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "db", "version"],
        "properties": {
            "status": {"enum": ["ok", "degraded"]},
            "db": {"type": "string"},
            "version": {"type": "string"},
            "hall": {"type": "string"},
        },
    },
}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _responses(ok_status: str, ok_schema: dict, *refusals: str) -> dict:
    texts = {
        "400": "Bad field, named in `field`",
        "401": "Not signed in, or a bad token",
        "403": "Signed in, but not allowed (e.g. another window)",
        "404": "No such ticket, window or line",
        "409": "Refused by the hall's rules (quota reached, line or hall closed, illegal transition)",
        "422": "This Idempotency-Key was sent before with a different request (request_key_reused)",
        "429": "Too many tickets from this kiosk in the last minute (kiosk_rate_limited), or too many failed"
        " sign-ins from this address (login_rate_limited); retry_after_s",
    }
    out = {ok_status: {"description": "OK", **_json(ok_schema)}}
    for status in refusals:
        out[status] = {"description": texts[status], **_json(_ERROR)}
    return out


_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
# Ids in paths are 1 to 18 ASCII digits (web/params.py); a longer number names nothing: 404.
_ID = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
_NUMBER = {"name": "number", "in": "path", "required": True, "schema": _ID}
_TICKET_ID = {"name": "ticket_id", "in": "path", "required": True, "schema": _ID}
_PREFIX = {"name": "prefix", "in": "path", "required": True, "schema": {"type": "string"}}

PATHS = {
    "/api/v1/openapi.json": {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1", **_json({"type": "object"})}},
        }
    },
    "/api/v1/matters": {
        "get": {
            "summary": "Public list of cross-province matters, or the matters a search finds",
            "description": "Without q, every matter in the hall file's order. With q, the matches best first: "
            "Chinese as people say it (fillers dropped, everyday words widened), pinyin in full, as initials or "
            "misspelled, English words or a matter code. No match is an empty list.",
            "security": [],
            "parameters": [
                {
                    "name": "q",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "what the citizen asks for, e.g. a Chinese phrase, shebaoka or sydj",
                }
            ],
            "responses": _responses("200", {"type": "array", "items": _ref("Matter")}),
        }
    },
    "/api/v1/login": {
        "post": {
            "summary": "Staff sign-in; clerks name the window they sit at. An account still on a demo or "
            "initial password is refused with password_change_required until new_password is given",
            "description": "An unknown name, a wrong password and a name locked from this address all get the "
            "same 401 bad_login; disabled, password_change_required and window_required follow only the right "
            "password. An address with too many failed sign-ins gets 429 login_rate_limited.",
            "security": [],
            "requestBody": {
                "required": True,
                **_json(
                    {
                        "type": "object",
                        "required": ["username", "password"],
                        "additionalProperties": False,
                        "properties": {
                            "username": {"type": "string"},
                            "password": {"type": "string"},
                            "new_password": {"type": "string"},
                            "window": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                        },
                    }
                ),
            },
            "responses": _responses("200", _ref("Session"), "400", "401", "403", "404", "429"),
        }
    },
    "/api/v1/logout": {
        "post": {
            "summary": "End this session",
            "security": _BEARER,
            "responses": _responses("200", {"type": "object"}, "401", "403"),
        }
    },
    "/api/v1/tickets": {
        "post": {
            "summary": "Issue a ticket (kiosk terminals and staff; green channel by staff only)",
            "description": "Send an Idempotency-Key with each new request and the same key when retrying it: "
            "a repeat is answered 200 with the ticket the first one took (201 means a new ticket).",
            "security": _BEARER,
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{8,128}$"},
                }
            ],
            "requestBody": {
                "required": True,
                **_json(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "matter": {"type": "string"},
                            "line": {"type": "string"},
                            "green": {"type": "boolean"},
                            "green_reason": {"enum": list(GREEN_REASONS), "description": "with green true"},
                            "appointment_at": {"type": "string", "format": "date-time"},
                        },
                    }
                ),
            },
            "responses": {
                **_responses("201", _ref("Ticket"), "400", "401", "403", "404", "409", "422", "429"),
                "200": {
                    "description": "A repeat of an earlier request with this Idempotency-Key",
                    **_json(_ref("Ticket")),
                },
            },
        }
    },
    "/api/v1/tickets/{ticket_id}": {
        "get": {
            "summary": "One ticket; staff also get its events",
            "security": _BEARER,
            "parameters": [_TICKET_ID],
            "responses": _responses("200", _ref("Ticket"), "401", "403", "404"),
        }
    },
    "/api/v1/tickets/{ticket_id}/{action}": {
        "post": {
            "summary": "A lifecycle action; clerks only on their window's tickets",
            "security": _BEARER,
            "parameters": [
                _TICKET_ID,
                {"name": "action", "in": "path", "required": True, "schema": {"enum": _TICKET_ACTIONS}},
            ],
            "requestBody": {
                "required": False,
                **_json(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "to_line": {"type": "string", "description": "required for transfer"},
                            "reason": {"type": "string"},
                            "confirm": {
                                "type": "boolean",
                                "description": "no_show only: the second press. Without it a no-show less than "
                                "2 minutes after the call, or before hall.max_recalls recalls, is refused "
                                "(409 no_show_unconfirmed)",
                            },
                        },
                    }
                ),
            },
            "responses": _responses("200", _ref("Ticket"), "400", "401", "403", "404", "409"),
        }
    },
    "/api/v1/tickets/{ticket_id}/rate": {
        "post": {
            "summary": "好差评: the citizen rates a finished service on the window's rating pad (pad terminals only; "
            "one rating per service)",
            "security": _BEARER,
            "parameters": [_TICKET_ID],
            "requestBody": {
                "required": True,
                **_json(
                    {
                        "type": "object",
                        "required": ["level"],
                        "additionalProperties": False,
                        "properties": {
                            "level": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 5,
                                "description": ", ".join(
                                    f"{level} {zh}" for level, (zh, _en) in ratings.LEVELS.items()
                                ),
                            },
                            "reasons": {
                                "type": "array",
                                "items": {"enum": ["long_wait", "attitude", "unclear", "slow", "come_back", "other"]},
                                "description": "only for levels 1 and 2",
                            },
                            "comment": {"type": "string", "maxLength": 200},
                        },
                    }
                ),
            },
            "responses": _responses("201", _ref("Rating"), "400", "401", "403", "404", "409"),
        }
    },
    "/api/v1/windows": {
        "get": {
            "summary": "Every window with its state and current ticket",
            "security": _BEARER,
            "responses": _responses("200", {"type": "array", "items": _ref("Window")}, "401", "403"),
        }
    },
    "/api/v1/windows/{number}/next": {
        "post": {
            "summary": "Call the next ticket for this window (the dispatch policy chooses)",
            "security": _BEARER,
            "parameters": [_NUMBER],
            "responses": _responses("200", _ref("Ticket"), "401", "403", "404", "409"),
        }
    },
    "/api/v1/windows/{number}/{action}": {
        "post": {
            "summary": "Open, pause, resume or close a window",
            "security": _BEARER,
            "parameters": [
                _NUMBER,
                {"name": "action", "in": "path", "required": True, "schema": {"enum": _WINDOW_ACTIONS}},
            ],
            "responses": _responses("200", _ref("Window"), "400", "401", "403", "404", "409"),
        }
    },
    "/api/v1/windows/{number}/lines": {
        "put": {
            "summary": "Set the lines a window serves now (managers), within what it is able to serve",
            "security": _BEARER,
            "parameters": [_NUMBER],
            "requestBody": {
                "required": True,
                **_json(
                    {
                        "type": "object",
                        "required": ["lines"],
                        "additionalProperties": False,
                        "properties": {
                            "lines": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                            "pinned": {"type": "boolean"},
                            "reason": {"type": "string"},
                        },
                    }
                ),
            },
            "responses": _responses("200", _ref("Window"), "400", "401", "403", "404", "409"),
        }
    },
    "/api/v1/lines": {
        "get": {
            "summary": "Waiting, longest wait and estimate per line",
            "security": _BEARER,
            "responses": _responses("200", {"type": "array", "items": _ref("Line")}, "401", "403"),
        }
    },
    "/api/v1/lines/{prefix}/close": {
        "post": {
            "summary": "Stop issuing tickets for a line (managers); kiosks and the API refuse it with line_closed and "
            "show the reason. Tickets already taken are still called",
            "description": "Recorded as a line_close event (who, when, why). Closing a closed line again with "
            "another reason rewords it. The reason is 1 to 200 characters; 'Chinese text / English text' shows "
            "both on the kiosk.",
            "security": _BEARER,
            "parameters": [_PREFIX],
            "requestBody": {
                "required": True,
                **_json(
                    {
                        "type": "object",
                        "required": ["reason"],
                        "additionalProperties": False,
                        "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": LINE_REASON_MAX}},
                    }
                ),
            },
            "responses": _responses("200", _ref("LineState"), "400", "401", "403", "404"),
        }
    },
    "/api/v1/appointments": {
        "post": {
            "summary": "Book time slots (managers): every row or none",
            "description": "Rows with problems are all refused with invalid_appointments (400), each problem "
            "naming its row (from 1) and field. A reference already booked with the same details is left as it "
            "is (counted in unchanged), so the same list may be sent again.",
            "security": _BEARER,
            "requestBody": {
                "required": True,
                **_json(
                    {
                        "type": "object",
                        "required": ["appointments"],
                        "additionalProperties": False,
                        "properties": {
                            "appointments": {"type": "array", "items": _ref("AppointmentRow")},
                        },
                    }
                ),
            },
            "responses": {
                **_responses("201", _ref("AppointmentsImported"), "401", "403"),
                "400": {
                    "description": "A bad body, or rows with problems (invalid_appointments)",
                    **_json(_ref("AppointmentsRefused")),
                },
            },
        }
    },
    "/api/v1/lines/{prefix}/open": {
        "post": {
            "summary": "Issue tickets for a closed line again (managers); opening an open line changes nothing",
            "security": _BEARER,
            "parameters": [_PREFIX],
            "responses": _responses("200", _ref("LineState"), "400", "401", "403", "404"),
        }
    },
}


def openapi_document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tongban hall API",
            "version": __version__,
            "description": "Kiosks, clerk consoles, hardware keypads and managers use this API. "
            "Terminals send their enrolment token, staff the token from /login, both as "
            "`Authorization: Bearer …`.",
        },
        "servers": [{"url": "/"}],
        "paths": {
            "/healthz": {
                "get": {
                    "summary": "Liveness and database check",
                    "security": [],
                    "responses": {
                        "200": {"description": "OK", **_json(_ref("Health"))},
                        "503": {"description": "Database trouble", **_json(_ref("Health"))},
                    },
                }
            },
            **PATHS,
        },
        "components": {"schemas": SCHEMAS, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": _BEARER,
    }
