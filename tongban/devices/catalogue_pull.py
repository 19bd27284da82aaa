"""Pull the district's catalogue into the hall (docs/config.md "District catalogue"): one of the sync
worker's exchanges, run in the devices process after each push.

The hall asks with the version it last saw (If-None-Match), so an unchanged catalogue costs one
304. A new one is checked against this hall's own file and held as pending (queue/catalogue.py);
a bad one is recorded, with the checker's messages, for the manager console.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from typing import Any

from ..config import HallConfig
from ..queue import catalogue
from ..queue.clock import Clock
from ..queue.store import Store
from .district_client import DistrictClient, DistrictUnavailable

log = logging.getLogger("tongban.devices.catalogue")

#: The hall file of each hall database the exchanges serve, set by the devices process at its start
#: (``install``): the exchanges' signature is fixed (client, store, clock) and carries no config.
_BASE: dict[str, HallConfig] = {}


def _key(database: str) -> str:
    return os.path.realpath(database)


#: Databases whose first pull since start asks without If-None-Match: the hall file may have been
#: edited (the devices process restarts to read it), so a catalogue refused before is checked again.
_FRESH: set[str] = set()


def install(config: HallConfig, database: str) -> None:
    """Check catalogues for ``database`` against this hall file (the devices process's own)."""
    _BASE[_key(database)] = config
    _FRESH.add(_key(database))


def installed(store: Store) -> HallConfig | None:
    """The hall file installed for the store's database (the hand-off exchange needs it too)."""
    return _BASE.get(_key(store.path))


def fetch(client: DistrictClient, seen: str | None) -> tuple[str, Any] | None:
    """(version, catalogue), or None when the district answers 304 (the hall has it) or has none yet.

    Its own request, not ``client.get_json``: a 304 is an answer here, not a failure."""
    request = urllib.request.Request(
        client.url + "/api/v1/catalogue",
        headers={
            "Authorization": f"Bearer {client.token}",
            "Accept": "application/json",
            **({"If-None-Match": f'"{seen}"'} if seen else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=client.timeout) as response:
            payload = json.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code == 304:
            return None
        detail = error.read()[:300].decode("utf-8", "replace")
        if error.code == 404 and "no_catalogue" in detail:
            return None
        raise DistrictUnavailable(f"HTTP {error.code} from /api/v1/catalogue: {detail}", status=error.code) from None
    except (OSError, urllib.error.URLError) as error:
        raise DistrictUnavailable(f"/api/v1/catalogue: {getattr(error, 'reason', error)}") from None
    except ValueError:
        raise DistrictUnavailable("/api/v1/catalogue: the answer is not JSON") from None
    if not isinstance(payload, dict) or "version" not in payload or "catalogue" not in payload:
        raise DistrictUnavailable("/api/v1/catalogue: the answer has no version and catalogue")
    return str(payload["version"]), payload["catalogue"]


def exchange(client: DistrictClient, store: Store, clock: Clock) -> None:
    base = installed(store)
    if base is None:
        # Without the hall file there is nothing to check a catalogue against: better none than unchecked.
        log.warning("district catalogue not pulled: the devices process did not install its hall file")
        return
    fresh = _key(store.path) in _FRESH
    got = fetch(client, None if fresh else catalogue.seen_version(store))
    _FRESH.discard(_key(store.path))
    if got is None:
        return
    version, doc = got
    result = catalogue.receive(store, base, clock, version, doc)
    log.info("district catalogue %s: %s", version, result["result"])
