"""The ticket layout, once, for both renderers.

Text mode (printer font ROM) and image mode (Pillow) draw the same list of blocks, so a
hall that changes printer model gets the same ticket. Blocks carry unwrapped text: each
renderer wraps with its own idea of width (printer columns vs. pixels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

from .slip import TicketSlip

REPRINT_BANNER = "补打 REPRINT"


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


Block = Union[Text, Pair, Rule, QR]


def _windows(windows: list[int]) -> tuple[str, str]:
    if not windows:
        return "办理窗口：请留意叫号屏", "Window: see the call screen"
    nums = sorted(set(windows))
    return (
        "办理窗口：" + "、".join(str(n) for n in nums) + " 号",
        ("Window " if len(nums) == 1 else "Windows ") + ", ".join(str(n) for n in nums),
    )


def _wait(slip: TicketSlip) -> list[Pair]:
    if slip.people_ahead <= 0:
        return [Pair("前面没有人，请留意叫号", "You are next")]
    low, high = sorted((max(0, slip.estimate_low_min), max(0, slip.estimate_high_min)))
    span = f"{low}" if low == high else f"{low}-{high}"
    return [
        Pair(f"前面还有 {slip.people_ahead} 人", f"{slip.people_ahead} ahead of you"),
        Pair(f"预计等候 {span} 分钟", f"about {span} min"),
    ]


def ticket_layout(slip: TicketSlip) -> list[Block]:
    blocks: list[Block] = [
        Text(slip.hall_name_zh, "title", "center"),
        Text(slip.hall_name_en, "subtitle", "center"),
        Rule(),
    ]
    if slip.reprint:
        blocks.append(Text(REPRINT_BANNER, "banner", "center"))
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
    blocks += _wait(slip)
    blocks.append(Pair(f"取号时间：{slip.issued_at_local}", f"Issued {slip.issued_at_local}"))
    blocks.append(Pair(*_windows(slip.windows)))
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
