"""A kiosk in its own OS process, for the concurrency and crash tests (tests/test_concurrency.py).

    python tests/_issuer.py burst DB HALL_JSON WHEN LINES SYNC_DIR NAME
        Wait at the starting line, then issue one ticket per letter of LINES ("ABAB…") as fast as
        possible; print each number as it is issued.
    python tests/_issuer.py loop DB HALL_JSON WHEN LINE
        Issue tickets in LINE forever, printing each number (flushed) once it is committed.

WHEN is the fake clock's ISO time (the hall must be open then; the real time of day does not
matter). SYNC_DIR is a file barrier: the process writes NAME.open once it is ready (after imports),
waits for "open", opens its own Store, writes NAME.ready and waits for "go".
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tongban.config import parse_hall_config
from tongban.queue.clock import FakeClock
from tongban.queue.service import HallService
from tongban.queue.store import Store


def wait_for(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {path}")
        time.sleep(0.001)


def service(db: str, hall_json: str, when: str) -> HallService:
    config = parse_hall_config(json.loads(Path(hall_json).read_text(encoding="utf-8")), "test-hall")
    return HallService(Store(db), config, FakeClock(datetime.fromisoformat(when)))


def main(argv: list[str]) -> None:
    mode, db, hall_json, when = argv[:4]
    if mode == "burst":
        lines, sync, name = argv[4], Path(argv[5]), argv[6]
        (sync / f"{name}.open").touch()
        wait_for(sync / "open")
        svc = service(db, hall_json, when)
        (sync / f"{name}.ready").touch()
        wait_for(sync / "go")
        for line in lines:
            print(svc.take_ticket(line=line).ticket.number, flush=True)
        svc.store.close()
    elif mode == "loop":
        svc = service(db, hall_json, when)
        line = argv[4]
        while True:
            print(svc.take_ticket(line=line).ticket.number, flush=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
