"""How big and how slow is a ticket? Run: python bench/bench_printers.py

For the demo ticket on 58 and 80 mm paper, in text and image mode: the bytes of the job,
the time to build it (median of several runs), the wire time on a 9600 and a 115200 baud
serial link (8N1), and a full print_ticket against a loopback network printer (status,
job, confirmation). Text mode must stay under 2 KB: at 9600 baud that is ~2 s, the most a
citizen should wait at a kiosk; the exit status is 1 if it does not.

Then how long print_ticket takes to give up on a printer that does not answer (SILENT: connected,
never answers DLE EOT) or never accepts the connection (busy: another host holds its one slot), with
timeout_s = 0.3: it must give up within timeout_s plus GIVE_UP_SLACK_S, or the exit status is 1.
(The unit tests check that it gives up and why; the time is measured here, on a quiet machine.)
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from tests.tools.fake_printers import SILENT, FakeNetworkPrinter
from tongban.printers import PrinterConfig, build_ticket_bytes, demo_slip, print_ticket, transfer_seconds

RUNS = 7
TEXT_LIMIT = 2048
GIVE_UP_TIMEOUT_S = 0.3
GIVE_UP_SLACK_S = 0.7


def median_ms(fn, runs=RUNS) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> int:
    slip = demo_slip()
    rows = []
    ok = True
    for mode in ("text", "image"):
        for mm in (58, 80):
            cfg = PrinterConfig(id="bench", url="dummy://bench", paper_mm=mm, mode=mode)
            build_ticket_bytes(cfg, slip)  # warm caches (font, escpos profile) out of the timing
            data = build_ticket_bytes(cfg, slip)
            build = median_ms(lambda cfg=cfg: build_ticket_bytes(cfg, slip))
            with FakeNetworkPrinter("ok") as printer:
                net = PrinterConfig(id="bench", url=printer.url, paper_mm=mm, mode=mode)
                e2e = median_ms(lambda net=net: print_ticket(net, slip), runs=3)
            rows.append(
                (
                    mode,
                    f"{mm} mm",
                    f"{len(data):,}",
                    f"{build:.1f}",
                    f"{transfer_seconds(len(data), 9600):.1f}",
                    f"{transfer_seconds(len(data), 115200):.2f}",
                    f"{e2e:.0f}",
                )
            )
            if mode == "text" and len(data) >= TEXT_LIMIT:
                ok = False

    head = ("mode", "paper", "bytes", "build ms", "9600 baud s", "115200 baud s", "tcp print ms")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    line = "  ".join(h.rjust(w) for h, w in zip(head, widths))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    print()
    print(f"text mode under {TEXT_LIMIT} bytes: {'yes' if ok else 'NO'}")
    return 0 if give_up(slip) and ok else 1


def give_up(slip) -> bool:
    """A kiosk must not hang on a printer that does not answer: print_ticket gives up in about timeout_s."""
    ok = True
    print()
    for name, printer in (
        ("silent printer", FakeNetworkPrinter(SILENT)),
        ("busy printer", FakeNetworkPrinter(busy=True)),
    ):
        with printer:
            cfg = PrinterConfig(id="bench", url=printer.url, timeout_s=GIVE_UP_TIMEOUT_S)
            started = time.perf_counter()
            out = print_ticket(cfg, slip)
            took = time.perf_counter() - started
        within = not out.ok and took < GIVE_UP_TIMEOUT_S + GIVE_UP_SLACK_S
        ok = ok and within
        print(
            f"{name}: gave up after {took * 1000:.0f} ms ({out.status}), timeout_s {GIVE_UP_TIMEOUT_S:g} s: "
            f"{'ok' if within else 'TOO SLOW'}"
        )
    return ok


if __name__ == "__main__":
    sys.exit(main())
