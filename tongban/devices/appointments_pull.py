"""Pull the district's appointments into the hall (docs/appointments.md "From the district"): one of
the sync worker's exchanges, run in the devices process after each push, so no request of the hall
ever waits on the network for a booking.

Each round: send an acknowledgement a failure left unsent (until it arrives the district keeps the
bookings' ID numbers), then ask for the changes after the hall's cursor, page by page; each page is
taken in one transaction with its cursor (queue/appointments_feed.py) and acknowledged. The district
away: the exchange raises DistrictUnavailable, the sync panel shows it, and the hall goes on with the
bookings it holds.
"""

from __future__ import annotations

import logging
from typing import Any

from ..queue import appointments_feed as feed
from ..queue.catalogue import CatalogueOverlay
from ..queue.clock import Clock
from ..queue.store import Store
from . import catalogue_pull
from .district_client import DistrictClient, DistrictUnavailable

log = logging.getLogger("tongban.devices.appointments")

PATH = "/api/v1/appointments"
ACK_PATH = "/api/v1/appointments/ack"
#: Pages per round: a backlog larger than this (a hall away for weeks) drains over the next rounds,
#: so the push is never held up for long.
MAX_PAGES = 20

#: The hall file plus the district catalogue the hall applied, per database: a booking's matter is
#: checked against the matters the hall offers today.
_OVERLAYS: dict[str, CatalogueOverlay] = {}


def _config(store: Store):
    base = catalogue_pull.installed(store)
    if base is None:
        return None
    overlay = _OVERLAYS.get(store.path)
    if overlay is None or overlay.base is not base:
        overlay = _OVERLAYS[store.path] = CatalogueOverlay(base)
    return overlay.current(store)


def _page(answer: Any, since: int) -> tuple[list, int, bool, int | None]:
    """The rows, the cursor after them, whether more wait, and the district's last change number
    (None from a district that does not say); DistrictUnavailable for another shape."""
    if not isinstance(answer, dict) or not isinstance(answer.get("appointments"), list):
        raise DistrictUnavailable(f"{PATH}: the answer has no list of appointments")
    upto = answer.get("next")
    if isinstance(upto, bool) or not isinstance(upto, int) or upto < since:
        raise DistrictUnavailable(f"{PATH}: the answer has no usable next ({upto!r})")
    last = answer.get("last")
    last = last if isinstance(last, int) and not isinstance(last, bool) else None
    return answer["appointments"], upto, bool(answer.get("more")), last


def exchange(client: DistrictClient, store: Store, clock: Clock) -> None:
    config = _config(store)
    if config is None:
        # Without the hall file there is nothing to check a booking's matter against.
        log.warning("district appointments not pulled: the devices process did not install its hall file")
        return
    if feed.acked(store) < feed.cursor(store):
        # Sent before anything else: until it arrives the district keeps those bookings' ID numbers.
        try:
            client.post_json(ACK_PATH, {"upto": feed.cursor(store), "refused": []})
            feed.record_acked(store, feed.cursor(store))
        except DistrictUnavailable as exc:
            if exc.status != 400:
                raise
            # Refused: the district has fewer changes than this (restored); the page below sees it.
            log.warning("district appointments: the acknowledgement was refused: %s", exc)
    for _ in range(MAX_PAGES):
        since = feed.cursor(store)
        rows, upto, more, last = _page(client.get_json(f"{PATH}?since={since}"), since)
        if last is not None and last < since:
            log.warning(
                "the district holds %d appointment changes, fewer than the %d taken: starting again", last, since
            )
            feed.start_again(store)
            continue
        if not rows and upto == since:
            return
        got = feed.receive(store, config, rows, upto, now=clock.now())
        if got.added or got.cancelled or got.refused:
            # References only: never an ID number or phone in the log.
            log.info(
                "district appointments up to %d: %d added, %d cancelled, %d refused (%s)",
                upto,
                got.added,
                got.cancelled,
                len(got.refused),
                ", ".join(r["reference"] for r in got.refused) or "-",
            )
        client.post_json(ACK_PATH, {"upto": upto, "refused": got.refused})
        feed.record_acked(store, upto)
        if not more:
            return
