"""The ticket layout, once, for both renderers.

Text mode (printer font ROM) and image mode (Pillow) draw the same list of blocks, so a
hall that changes printer model gets the same ticket. Blocks carry unwrapped text: each
renderer wraps with its own idea of width (printer columns vs. pixels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .slip import TicketSlip

# The fixed Chinese on a ticket. Big5 has no simplified characters, so a Big5 printer gets
# the traditional forms; hall-supplied names and reminders are printed as configured.
LABELS = {
    "hans": {
        "reprint": "补打",
        "window_none": "办理窗口：请留意叫号屏",
        "window": "办理窗口：{n} 号",
        "next": "前面没有人，请留意叫号",
        "ahead": "前面还有 {n} 人",
        "wait": "预计等候 {span} 分钟",
        "issued": "取号时间：{at}",
    },
    "hant": {
        "reprint": "補打",
        "window_none": "辦理窗口：請留意叫號屏",
        "window": "辦理窗口：{n} 號",
        "next": "前面沒有人，請留意叫號",
        "ahead": "前面還有 {n} 人",
        "wait": "預計等候 {span} 分鐘",
        "issued": "取號時間：{at}",
    },
}


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


def _windows(windows: list[int], t: dict) -> tuple[str, str]:
    if not windows:
        return t["window_none"], "Window: see the call screen"
    nums = sorted(set(windows))
    return (
        t["window"].format(n="、".join(str(n) for n in nums)),
        ("Window " if len(nums) == 1 else "Windows ") + ", ".join(str(n) for n in nums),
    )


def _wait(slip: TicketSlip, t: dict) -> list[Pair]:
    if slip.people_ahead <= 0:
        return [Pair(t["next"], "You are next")]
    low, high = sorted((max(0, slip.estimate_low_min), max(0, slip.estimate_high_min)))
    span = f"{low}" if low == high else f"{low}-{high}"
    return [
        Pair(t["ahead"].format(n=slip.people_ahead), f"{slip.people_ahead} ahead of you"),
        Pair(t["wait"].format(span=span), f"about {span} min"),
    ]


def ticket_layout(slip: TicketSlip, traditional: bool = False) -> list[Block]:
    t = LABELS["hant" if traditional else "hans"]
    blocks: list[Block] = [
        Text(slip.hall_name_zh, "title", "center"),
        Text(slip.hall_name_en, "subtitle", "center"),
        Rule(),
    ]
    if slip.reprint:
        blocks.append(Text(t["reprint"] + " REPRINT", "banner", "center"))
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
    blocks.append(Pair(t["issued"].format(at=slip.issued_at_local), f"Issued {slip.issued_at_local}"))
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
