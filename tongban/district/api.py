"""The district's JSON API for halls: sync batches in (docs/district.md §Protocol).

Routes only translate HTTP: the token check is ``halls.hall_for_token``, the batch is checked and
applied by ``ingest``. Every refusal is JSON with an error code and the words in Chinese and English.
"""

from __future__ import annotations

from typing import Any

import psycopg
from flask import Blueprint, jsonify, request
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import RequestEntityTooLarge

from ..texts import both
from . import context, ingest

bp = Blueprint("district_api", __name__, url_prefix="/api/v1")


# The keys create_district_app keeps its pool and clock under (tongban/district/app.py). Read here
# rather than imported: app.py imports this module, and the import graph has no cycles.
def _payload() -> Any:
    """The JSON body, or None when it is not JSON (parse_batch then names the body as the bad field)."""
    try:
        return request.get_json(force=True, silent=True)
    except RecursionError:  # nested deeper than the parser goes: not a batch either
        return None


@bp.post("/sync")
def sync():
    """Apply a hall's batch; answer the highest change the district holds for (hall, generation)."""
    with context.connection() as conn:
        token_hall = context.hall_from_token(conn)
        payload = _payload()
        # Whose batch it is comes before whether it is well made: a hall writing as another is told so.
        claimed = payload.get("hall") if isinstance(payload, dict) else None
        if isinstance(claimed, str):
            context.hall_from_token(conn, claimed)
        try:
            batch = ingest.parse_batch(payload)
        except ingest.BatchTooLarge as exc:
            return jsonify(exc.as_dict()), 413
        except ingest.BatchError as exc:
            return jsonify(exc.as_dict()), 400
        assert batch.hall == token_hall  # checked just above
        result = ingest.apply_batch(conn, batch, now=context.clock().now())
    return jsonify(
        hall=batch.hall, generation=batch.generation, acked=result.acked, applied=result.applied, gap=result.gap
    )


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_error):
    zh, en = both("dc_too_large_body")
    return jsonify(error="too_large", message_zh=zh, message_en=en), 413


@bp.errorhandler(psycopg.OperationalError)
@bp.errorhandler(PoolTimeout)
def database_unavailable(_error):
    # PostgreSQL down or every connection busy: the hall keeps its outbox and retries with backoff.
    zh, en = both("dc_database_unavailable")
    answer = jsonify(error="district_unavailable", message_zh=zh, message_en=en)
    answer.headers["Retry-After"] = "5"
    return answer, 503
