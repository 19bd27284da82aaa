"""QR codes as inline SVG: the one builder for every page (kiosk ticket, hall info, case receipt).

Built from the module matrix as one path of row runs. qrcode's SVG image factories draw one
rectangle per module and score all eight mask patterns; together that was 40 ms of the 43 ms a
kiosk took to answer a ticket (bench/bench_issue.py). A fixed mask is allowed by the standard
(ISO/IEC 18004 only recommends the scoring), and phones read every mask alike.
"""

from __future__ import annotations

from html import escape

import qrcode
import qrcode.constants

QUIET_ZONE = 2  # modules of white around the code; the pages add their own margins
MASK_PATTERN = 0


def qr_svg(text: str, *, label: str = "", css_class: str = "qr-svg", size: str = "") -> str:
    """``text`` as an SVG element. ``label`` names it for screen readers; ``size`` (e.g. "34mm")
    gives the standalone image a width and height, which inline uses take from CSS instead."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0, mask_pattern=MASK_PATTERN)
    code.add_data(text.encode("utf-8"))
    code.make(fit=True)
    matrix = code.get_matrix()
    parts = []
    for y, row in enumerate(matrix, start=QUIET_ZONE):
        x = 0
        while x < len(row):
            if not row[x]:
                x += 1
                continue
            run = x
            while run < len(row) and row[run]:
                run += 1
            parts.append(f"M{x + QUIET_ZONE} {y}h{run - x}v1h-{run - x}z")
            x = run
    side = len(matrix) + 2 * QUIET_ZONE
    attrs = [f'class="{escape(css_class)}"'] if css_class else []
    if size:
        attrs.append(f'width="{escape(size)}" height="{escape(size)}"')
    attrs.append(f'role="img" aria-label="{escape(label or text)}"')
    return (
        f'<svg {" ".join(attrs)} viewBox="0 0 {side} {side}" xmlns="http://www.w3.org/2000/svg" '
        f'shape-rendering="crispEdges"><rect width="{side}" height="{side}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(parts)}"/></svg>'
    )
