"""SVG charts of the day report (web/manage/templates/report.html), drawn on the server.

Halls are offline, so there is no browser chart library; the charts are plain SVG with presentation
attributes only (the CSP allows no style attributes). The numbers come from queue/reports.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from markupsafe import Markup, escape

PALETTE = ("#b71c1c", "#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f")


def svg_bars(
    categories: list[str],
    series: Iterable[tuple[str, list[float | None]]],
    *,
    title: str,
    unit: str = "",
    counts: bool = False,
    width: int = 640,
    height: int = 260,
) -> Markup:
    """Grouped vertical bars with axis, labels and a legend; presentation attributes only (CSP: no style).

    ``counts``: the values are counts (tickets, ratings), so every tick on the axis is a whole number."""
    series = list(series)
    top, bottom, left, right = 34, 46, 46, 12
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([v for _name, values in series for v in values if v is not None] + [0])
    ticks = axis_ticks(peak, counts=counts)
    scale_max = ticks[-1]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'class="chart" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, tick in enumerate(ticks):
        y = top + plot_h - plot_h * i / (len(ticks) - 1)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#666">{_fmt(tick)}</text>'
        )
    n = max(1, len(categories))
    slot = plot_w / n
    bar_w = max(2.0, slot * 0.8 / max(1, len(series)))
    for c, category in enumerate(categories):
        x0 = left + slot * c + slot * 0.1
        for s, (_name, values) in enumerate(series):
            value = values[c] if c < len(values) else None
            if value is None:
                continue
            h = plot_h * (value / scale_max) if scale_max else 0
            x = x0 + bar_w * s
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(category)} {escape(_name)}: '
                f"{_fmt(value)}{escape(unit)}</title></rect>"
            )
        parts.append(
            f'<text x="{left + slot * c + slot / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
            f'font-size="12" fill="#333">{escape(category)}</text>'
        )
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#888"/>')
    x = left
    for s, (name, _values) in enumerate(series):
        parts.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{PALETTE[s % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 16}" y="18" font-size="12" fill="#333">{escape(name)}</text>')
        x += 30 + _text_width(name, 12)
    if unit:
        parts.append(
            f'<text x="{width - right}" y="18" text-anchor="end" font-size="11" fill="#666">{escape(unit)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def svg_share(items: list[tuple[str, int, str]], *, title: str, width: int = 1200, height: int = 76) -> Markup:
    """One stacked bar of shares (e.g. ratings per level) with a legend underneath."""
    total = sum(n for _label, n, _color in items)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" class="chart" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    x = 0.0
    if total:
        for label, n, color in items:
            w = width * n / total
            if w > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="4" width="{w:.1f}" height="34" fill="{color}"><title>'
                    f"{escape(label)}: {n}</title></rect>"
                )
                if w > 40:
                    parts.append(
                        f'<text x="{x + w / 2:.1f}" y="26" text-anchor="middle" font-size="13" '
                        f'fill="#fff">{n / total * 100:.0f}%</text>'
                    )
            x += w
    else:
        parts.append(f'<rect x="0" y="4" width="{width}" height="34" fill="#eeeeee"/>')
    lx: float = 0
    for label, n, color in items:
        parts.append(f'<rect x="{lx}" y="56" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text x="{lx + 16}" y="66" font-size="12" fill="#333">{escape(label)} {n}</text>')
        lx += 36 + _text_width(f"{label} {n}", 12)
    parts.append("</svg>")
    return Markup("".join(parts))


def _text_width(text: str, size: int) -> float:
    """Rough width of a label: CJK characters are about one em, Latin letters and digits about half."""
    return sum(size if ord(ch) > 0x2E80 else size * 0.56 for ch in text)


def axis_ticks(peak: float, *, counts: bool = False) -> list[float]:
    """The values marked on a value axis, from 0 up to at least ``peak``. For counts every tick is a
    whole number (a step of 1, 2 or 5 × 10ⁿ, at most five steps), never 6.25 tickets; otherwise
    four equal steps up to a round maximum."""
    if not counts:
        top = _nice(peak)
        return [top * i / 4 for i in range(5)]
    whole = max(1, math.ceil(peak))
    step = next(m * 10**k for k in range(20) for m in (1, 2, 5) if m * 10**k * 5 >= whole)
    return [float(step * i) for i in range(math.ceil(whole / step) + 1)]


def _nice(peak: float) -> float:
    if peak <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(peak))
    for step in (1, 2, 2.5, 5, 10):
        if peak <= step * exponent:
            return step * exponent
    return 10 * exponent


def _fmt(value: float) -> str:
    if abs(value - round(value)) < 1e-9:
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value * 10 - round(value * 10)) < 1e-9 else f"{value:.2f}"


def svg_trend(
    categories: list[str],
    series: Iterable[tuple[str, list[float | None]]],
    *,
    title: str,
    width: int = 1200,
    height: int = 260,
) -> Markup:
    """Shares (0 to 1) over days as lines, one per series, on a 0–100% axis. A day without a value
    breaks the line there (a dot stands alone); with many days only some dates are labelled."""
    series = list(series)
    top, bottom, left, right = 34, 46, 46, 12
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'class="chart trend" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#666">{25 * i}%</text>'
        )
    n = max(1, len(categories))
    slot = plot_w / n
    every = max(1, math.ceil(n / 16))  # at most ~16 date labels
    for c, category in enumerate(categories):
        if c % every == 0:
            parts.append(
                f'<text x="{left + slot * c + slot / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                f'font-size="11" fill="#333">{escape(category[5:] if len(category) == 10 else category)}</text>'
            )
    for s, (name, values) in enumerate(series):
        color = PALETTE[s % len(PALETTE)]
        points = [
            (left + slot * c + slot / 2, top + plot_h - plot_h * v, v) if v is not None else None
            for c, v in enumerate(values[: len(categories)])
        ]
        run: list[str] = []
        for point in [*points, None]:
            if point is None:
                if len(run) > 1:
                    parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{color}" stroke-width="2"/>')
                run = []
                continue
            run.append(f"{point[0]:.1f},{point[1]:.1f}")
        for c, point in enumerate(points):
            if point is not None:
                parts.append(
                    f'<circle cx="{point[0]:.1f}" cy="{point[1]:.1f}" r="3" fill="{color}"><title>'
                    f"{escape(categories[c])} {escape(name)}: {point[2] * 100:.1f}%</title></circle>"
                )
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#888"/>')
    x: float = left
    for s, (name, _values) in enumerate(series):
        parts.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{PALETTE[s % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 16}" y="18" font-size="12" fill="#333">{escape(name)}</text>')
        x += 30 + _text_width(name, 12)
    parts.append("</svg>")
    return Markup("".join(parts))
