"""The ticket layout, once, for both renderers.

Text mode (printer font ROM) and image mode (Pillow) draw the same list of blocks, so a
hall that changes printer model gets the same ticket. Blocks carry unwrapped text: each
renderer wraps with its own idea of width (printer columns vs. pixels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..texts import both
from .slip import TicketSlip


def _labels(traditional: bool) -> Callable[..., tuple[str, str]]:
    """The fixed words on a ticket, (中文, English), from the text table (devices.toml). Big5 has no
    simplified characters, so a Big5 printer gets the traditional forms (slip_*_hant); hall-supplied
    names and reminders are printed as configured."""
    suffix = "_hant" if traditional else ""
    return lambda key, **values: both(f"slip_{key}{suffix}", **values)


@dataclass(frozen=True)
class Text:
    text: str
    style: str = "body"  # title, subtitle, banner, number, heading, body, note
    align: str = "left"


@dataclass(frozen=True)
class Pair:
    """Chinese and English of one fact: one line when both fit, otherwise two."""

    zh: str
    en: str
    align: str = "left"


@dataclass(frozen=True)
class Rule:
    pass


@dataclass(frozen=True)
class QR:
    data: str


Block = Text | Pair | Rule | QR


def _windows(windows: list[int], t: Callable[..., tuple[str, str]]) -> tuple[str, str]:
    if not windows:
        return t("window_none")
    nums = [str(n) for n in sorted(set(windows))]
    return t("window" if len(nums) == 1 else "windows", n_zh="、".join(nums), n_en=", ".join(nums))


def _wait(slip: TicketSlip, t: Callable[..., tuple[str, str]]) -> list[Pair]:
    if slip.estimate_low_min is None or slip.estimate_high_min is None:
        # Nobody is promised minutes, nor "you are next", while no window serves the line.
        nobody = t("no_window_opens", at=slip.opens_at) if slip.opens_at else t("no_window")
        return ([Pair(*t("ahead", n=slip.people_ahead))] if slip.people_ahead > 0 else []) + [Pair(*nobody)]
    if slip.people_ahead <= 0:
        return [Pair(*t("next"))]
    low, high = sorted((max(0, slip.estimate_low_min), max(0, slip.estimate_high_min)))
    span = f"{low}" if low == high else f"{low}-{high}"
    return [Pair(*t("ahead", n=slip.people_ahead)), Pair(*t("wait", span=span))]


def ticket_layout(slip: TicketSlip, traditional: bool = False) -> list[Block]:
    t = _labels(traditional)
    blocks: list[Block] = [
        Text(slip.hall_name_zh, "title", "center"),
        Text(slip.hall_name_en, "subtitle", "center"),
        Rule(),
    ]
    if slip.reprint:
        blocks.append(Text(" ".join(t("reprint")), "banner", "center"))
    blocks += [
        Text(slip.number, "number", "center"),
        Text(slip.line_name_zh, "heading", "center"),
        Text(slip.line_name_en, "body", "center"),
    ]
    if slip.matter_name_zh:
        blocks.append(Text(slip.matter_name_zh, "body", "center"))
    if slip.matter_name_en:
        blocks.append(Text(slip.matter_name_en, "body", "center"))
    blocks.append(Rule())
    blocks += _wait(slip, t)
    blocks.append(Pair(*t("issued", at=slip.issued_at_local)))
    blocks.append(Pair(*_windows(slip.windows, t)))
    if slip.qr_text:
        blocks.append(QR(slip.qr_text))
    if slip.reminders:
        blocks.append(Rule())
        blocks += [Text(r, "note", "left") for r in slip.reminders]
    return blocks


# Kinsoku (禁则): a line must not start with closing punctuation nor end with opening
# punctuation, or "（跨省）" splits into "（跨省" / "）".
CLOSING = set("，。、；：？！）》」』】〕〉”’…,.;:?!)]}%")
OPENING = set("（《「『【〔〈“‘([{")


def _is_wide(ch: str) -> bool:
    # CJK, full-width forms and CJK punctuation break anywhere; ASCII punctuation stays
    # glued to its Latin word
    return ord(ch) > 0x2E7F or (ord(ch) > 0x7F and (ch in CLOSING or ch in OPENING))


def _units(text: str) -> list[str]:
    """Split into unbreakable units: Latin words, single wide characters, spaces."""
    raw: list[str] = []
    word = ""
    for ch in text:
        if ch == " ":
            if word:
                raw.append(word)
                word = ""
            raw.append(" ")
        elif _is_wide(ch):
            if word:
                raw.append(word)
                word = ""
            raw.append(ch)
        else:
            word += ch
    if word:
        raw.append(word)
    units: list[str] = []
    pending_open = ""
    for u in raw:
        if u in OPENING and len(u) == 1 and ord(u) > 0x7F:
            pending_open += u
            continue
        u = pending_open + u
        pending_open = ""
        if units and u[0] in CLOSING and units[-1] != " ":
            units[-1] += u
        else:
            units.append(u)
    if pending_open:
        units.append(pending_open)
    return units


def wrap(text: str, max_width: float, width_of: Callable[[str], float]) -> list[str]:
    lines: list[str] = []
    for para in text.split("\n"):
        cur = ""
        for u in _units(para):
            if u == " ":
                if cur and width_of(cur + " ") <= max_width:
                    cur += " "
                elif cur:
                    lines.append(cur.rstrip())
                    cur = ""
                continue
            if width_of(cur + u) <= max_width:
                cur += u
                continue
            if cur.strip():
                lines.append(cur.rstrip())
            cur = ""
            # a unit wider than the line (a long URL) is cut by character
            for ch in u:
                if cur and width_of(cur + ch) > max_width:
                    lines.append(cur)
                    cur = ""
                cur += ch
        if cur.strip() or not lines:
            lines.append(cur.rstrip())
    return lines
