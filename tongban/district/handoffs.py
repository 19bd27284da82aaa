"""Cross-site cases through the district (docs/cases.md "Cross-site cases").

A hall hands a case to another hall: the sending hall POSTs it, the receiving hall reads its inbox,
makes the case its own and acknowledges it, and the sending hall asks for the state of what it handed
out. The district never calls a hall. Personal data travels hall → district → hall only and is
deleted here on the ack; answers about other halls' cases are masked.
"""

from __future__ import annotations

import json
import re
from typing import Any

import psycopg
from flask import Blueprint, Flask, Response, jsonify, make_response, request
from psycopg.rows import dict_row

from ..queue.masking import mask_name
from ..texts import both
from .context import connection, hall_from_token

bp = Blueprint("district_handoffs", __name__, url_prefix="/api/v1/handoffs")

_UID = re.compile(r"^[0-9a-f]{16}$")
_HALL = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_BODY_FIELDS = 100


class HandoffError(ValueError):
    """A hand-off the district refuses: ``code``, the text key of its words, and the HTTP status."""

    def __init__(self, code: str, key: str, status: int = 400, **values: Any):
        self.code, self.status = code, status
        self.message_zh, self.message_en = both(key, **values)
        super().__init__(self.message_en)

    def answer(self) -> Response:
        return make_response(
            jsonify(error=self.code, message_zh=self.message_zh, message_en=self.message_en), self.status
        )


def _check(payload: Any) -> tuple[str, str, str, dict]:
    # PostgreSQL text and jsonb cannot hold NUL: refused here rather than failing in the INSERT.
    if not isinstance(payload, dict) or "\\u0000" in json.dumps(payload):
        raise HandoffError("bad_handoff", "dx_handoff_bad", field="(body)")
    uid, to_hall, case = payload.get("uid"), payload.get("to_hall"), payload.get("case")
    to_window = payload.get("to_window") or ""
    if not isinstance(uid, str) or not _UID.match(uid):
        raise HandoffError("bad_handoff", "dx_handoff_bad", field="uid")
    if not isinstance(to_hall, str) or not _HALL.match(to_hall):
        raise HandoffError("bad_handoff", "dx_handoff_bad", field="to_hall")
    if not isinstance(to_window, str) or len(to_window) > 40:
        raise HandoffError("bad_handoff", "dx_handoff_bad", field="to_window")
    if not isinstance(case, dict) or len(case) > MAX_BODY_FIELDS or case.get("origin_case_uid") != uid:
        raise HandoffError("bad_handoff", "dx_handoff_bad", field="case")
    if not isinstance(case.get("number"), str) or not isinstance(case.get("matter"), str):
        raise HandoffError("bad_handoff", "dx_handoff_bad", field="case.number")
    return uid, to_hall, to_window, case


def send(conn: psycopg.Connection[Any], from_hall: str, payload: Any) -> dict:
    """Hold a hand-off for its receiving hall; sent twice, it is the same one."""
    uid, to_hall, to_window, case = _check(payload)
    if to_hall == from_hall:
        raise HandoffError("unknown_hall", "dx_handoff_hall", hall=to_hall)
    known = conn.execute("SELECT 1 FROM halls WHERE id = %s AND revoked_at IS NULL", (to_hall,)).fetchone()
    if known is None:
        raise HandoffError("unknown_hall", "dx_handoff_hall", hall=to_hall)
    conn.execute(
        "INSERT INTO handoffs (uid, from_hall, to_hall, to_window, case_number, matter, matter_zh,"
        " applicant_masked, body) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (from_hall, uid) DO NOTHING",
        (
            uid,
            from_hall,
            to_hall,
            to_window,
            case["number"],
            case["matter"],
            str(case.get("matter_zh") or ""),
            mask_name(case.get("applicant_name") if isinstance(case.get("applicant_name"), str) else None) or "",
            json.dumps(case, ensure_ascii=False),
        ),
    )
    row = conn.execute("SELECT id FROM handoffs WHERE from_hall = %s AND uid = %s", (from_hall, uid)).fetchone()
    assert row is not None
    return {"id": str(row[0]), "uid": uid}


def inbox(conn: psycopg.Connection[Any], hall: str) -> list[dict]:
    """What other halls handed to ``hall`` and it has not acknowledged, oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT h.id, h.uid, h.from_hall, f.name AS from_hall_name, h.to_window, h.body, h.created_at"
            " FROM handoffs h JOIN halls f ON f.id = h.from_hall"
            " WHERE h.to_hall = %s AND h.acked_at IS NULL ORDER BY h.id",
            (hall,),
        ).fetchall()
    return [{**r, "id": str(r["id"]), "created_at": r["created_at"].isoformat()} for r in rows]


def ack(conn: psycopg.Connection[Any], hall: str, handoff_id: str, payload: Any) -> dict:
    """The receiving hall has the case: the personal data is deleted here. Only the receiver may ack."""
    number = payload.get("number") if isinstance(payload, dict) else None
    bad_number = number is not None and (not isinstance(number, str) or len(number) > 40 or "\x00" in number)
    if not re.fullmatch(r"[0-9]{1,18}", handoff_id) or bad_number:
        raise HandoffError("bad_handoff", "dx_handoff_bad", field="number")
    row = conn.execute(
        "UPDATE handoffs SET acked_at = COALESCE(acked_at, now()), body = NULL,"
        " received_number = COALESCE(received_number, %s)"
        " WHERE id = %s AND to_hall = %s RETURNING id, uid",
        (number, int(handoff_id), hall),
    ).fetchone()
    if row is None:  # another hall's hand-off reads as none at all
        raise HandoffError("not_found", "dx_handoff_none", 404)
    return {"id": str(row[0]), "uid": row[1], "acked": True}


def status(conn: psycopg.Connection[Any], hall: str) -> list[dict]:
    """Where the cases ``hall`` handed out are: in transit until acked, then the receiving hall's
    synced case row (its state and number), masked as every district answer is."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT h.uid, h.to_hall, h.acked_at, h.received_number, c.state, c.number, c.updated_at"
            " FROM handoffs h LEFT JOIN cases c ON c.hall = h.to_hall"
            " AND c.body->>'origin_hall' = h.from_hall AND c.body->>'origin_case_uid' = h.uid"
            " WHERE h.from_hall = %s ORDER BY h.id",
            (hall,),
        ).fetchall()
    out = []
    for r in rows:
        if r["acked_at"] is None:
            state = "in_transit"
        else:
            state = r["state"] or "received"  # acked, its case row not synced yet: it was received
        out.append(
            {
                "uid": r["uid"],
                "to_hall": r["to_hall"],
                "state": state,
                "number": r["number"] or r["received_number"],
                "updated_at": r["updated_at"].isoformat() if r["updated_at"] else None,
            }
        )
    return out


def _json() -> Any:
    return request.get_json(silent=True)


@bp.post("")
def post_handoff():
    try:
        with connection() as conn:
            return jsonify(send(conn, hall_from_token(conn), _json())), 201
    except HandoffError as exc:
        return exc.answer()


@bp.get("/inbox")
def get_inbox():
    with connection() as conn:
        return jsonify(handoffs=inbox(conn, hall_from_token(conn)))


@bp.post("/<handoff_id>/ack")
def post_ack(handoff_id: str):
    try:
        with connection() as conn:
            return jsonify(ack(conn, hall_from_token(conn), handoff_id, _json() or {}))
    except HandoffError as exc:
        return exc.answer()


@bp.get("/status")
def get_status():
    with connection() as conn:
        return jsonify(handoffs=status(conn, hall_from_token(conn)))


def register(app: Flask) -> None:
    app.register_blueprint(bp)
