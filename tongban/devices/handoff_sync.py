"""Cross-site cases between the hall and its district (docs/cases.md "Cross-site cases"): one of
the sync worker's exchanges, run in the devices process after each push.

Three steps, each safe to repeat after a failure anywhere: send the queued hand-offs (the district
keeps one per uid), take the inbox into this hall's case list (a hand-off received twice is one case)
and acknowledge each (the district then deletes the personal data), and refresh the state of the
cases this hall handed out, which its case pages and the citizen's status page show.
"""

from __future__ import annotations

import logging

from ..queue import cases
from ..queue.clock import Clock
from ..queue.store import Store
from . import catalogue_pull
from .district_client import DistrictClient, DistrictUnavailable

log = logging.getLogger("tongban.devices.handoffs")


def send_queued(client: DistrictClient, store: Store, clock: Clock) -> int:
    sent = 0
    for item in cases.queued_handoffs(store):
        body = {
            "uid": item["uid"],
            "to_hall": item["to_hall"],
            "to_window": item["to_window"] or "",
            "case": item["body"],
        }
        try:
            answer = client.post_json("/api/v1/handoffs", body)
        except DistrictUnavailable as exc:
            config = catalogue_pull.installed(store)
            if exc.status != 400 or config is None:
                raise  # away, or this hall's token refused: every hand-off waits for the next round
            # This one will never do (no such hall): back to the clerk, and the rest of the queue goes on.
            log.warning("hand-off %s to %s refused by the district: %s", item["uid"], item["to_hall"], exc)
            cases.handoff_refused(store, item["uid"], _error_code(str(exc)), clock.now(), config)
            continue
        cases.handoff_sent(store, item["uid"], str(answer.get("id", "")), clock.now())
        sent += 1
    return sent


def _error_code(message: str) -> str:
    for code in ("unknown_hall", "bad_handoff"):
        if code in message:
            return code
    return "refused"


def receive_inbox(client: DistrictClient, store: Store, clock: Clock) -> int:
    config = catalogue_pull.installed(store)
    if config is None:
        log.warning("hand-offs not received: the devices process did not install its hall file")
        return 0
    service = cases.CaseService(store, config, clock)
    received = 0
    for item in client.get_json("/api/v1/handoffs/inbox").get("handoffs", []):
        try:
            case = service.receive_handoff(str(item.get("from_hall", "")), item.get("body") or {})
        except cases.HandoffRefused as exc:
            # Left in the inbox (not acked): the district keeps it, and the log says why, without the data.
            log.error("hand-off %s from %s refused: %s", item.get("id"), item.get("from_hall"), exc.message_en)
            continue
        client.post_json(f"/api/v1/handoffs/{item['id']}/ack", {"number": case.number})
        received += 1
    return received


def refresh_states(client: DistrictClient, store: Store, clock: Clock) -> int:
    rows = client.get_json("/api/v1/handoffs/status").get("handoffs", [])
    return cases.remote_states(store, [r for r in rows if isinstance(r, dict)], clock.now())


def exchange(client: DistrictClient, store: Store, clock: Clock) -> None:
    try:
        sent = send_queued(client, store, clock)
        received = receive_inbox(client, store, clock)
        changed = refresh_states(client, store, clock)
    except (AttributeError, KeyError, TypeError) as exc:
        # An answer of the wrong shape is the district's fault: the sync panel shows it like any other.
        raise DistrictUnavailable(f"hand-offs: unexpected answer from the district ({exc!r})") from None
    if sent or received or changed:
        log.info("hand-offs: %d sent, %d received, %d states changed", sent, received, changed)
