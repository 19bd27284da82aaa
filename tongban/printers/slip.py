"""What goes on a ticket: built by the core from a ticket row, printed here."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TicketSlip:
    hall_name_zh: str
    hall_name_en: str
    number: str
    line_name_zh: str
    line_name_en: str
    matter_name_zh: str | None
    matter_name_en: str | None
    people_ahead: int
    estimate_low_min: int | None  # None (both): no window serves the line now, so no minutes are promised
    estimate_high_min: int | None
    issued_at_local: str  # "2026-11-26 09:12", already in the hall's time zone
    windows: list[int] = field(default_factory=list)
    qr_text: str = ""  # status link, or (offline hall) the ticket text itself
    reminders: list[str] = field(default_factory=list)
    reprint: bool = False
    opens_at: str | None = None  # with no estimate: 'HH:MM' when the hall opens again, if it is closed now


def demo_slip() -> TicketSlip:
    """A realistic ticket with the characters that go wrong: full-width punctuation, mixed
    Chinese and English, a long matter name that must wrap on 58 mm paper."""
    return TicketSlip(
        hall_name_zh="示例区政务服务中心",
        hall_name_en="Example District Government Service Center",
        number="A012",
        line_name_zh="跨省通办（社保）",
        line_name_en="Cross-province Services (Social Security)",
        matter_name_zh="养老保险关系转移接续申请（跨省）",
        matter_name_en="Transfer of pension insurance relationship (cross-province)",
        people_ahead=3,
        estimate_low_min=10,
        estimate_high_min=20,
        issued_at_local="2026-11-26 09:12",
        windows=[3, 5, 7],
        qr_text="http://hall.example/t/A012-7f3k",
        reminders=[
            "请留意叫号，过号请到服务台重新排队。",
            "Please watch the screen; if you miss your call, ask at the service desk.",
            "本票当日有效。Valid today only.",
        ],
    )
