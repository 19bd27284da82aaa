"""How big and how slow is a ticket? Run: python bench/bench_printers.py

For the demo ticket on 58 and 80 mm paper, in text and image mode: the bytes of the job,
the time to build it (median of several runs), the wire time on a 9600 and a 115200 baud
serial link (8N1), and a full print_ticket against a loopback network printer (status,
job, confirmation). Text mode must stay under 2 KB: at 9600 baud that is ~2 s, the most a
citizen should wait at a kiosk; the exit status is 1 if it does not.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from tests.tools.fake_printers import FakeNetworkPrinter
from tongban.printers import PrinterConfig, build_ticket_bytes, demo_slip, print_ticket, transfer_seconds

RUNS = 7
TEXT_LIMIT = 2048


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
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
