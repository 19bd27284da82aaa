"""What an ID card on a kiosk's reader does (issue 18, docs/kiosk.md#with-an-id-card).

The devices process records a read (queue/idcards.py); the kiosk's live stream shows the card's
``offer``: check-in for the citizen's booking today, found by the card's keyed hash; otherwise the
usual choice with the citizen's recent matter first (when the hall keeps one); and the green channel
when the card's holder is old enough by the hall file's rule. The citizen's touch is one call here,
one transaction: the read is used up (so the card left on the reader, or a second tap, issues
nothing more) and the ticket is issued carrying the keyed hash and the masked number, never the
number itself. A refusal (hall closed, too early) rolls the read back with the ticket, so the
citizen may still use the card for the usual choice.

Pure domain: no Flask, the clock passed in (through the service).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..config import HallConfig
from . import appointments, calendar, errors
from .idcards import CardGone, CardSeen, latest_card
from .service import HallService, Issued
from .store import Store, utc_iso

__all__ = ["CardGone", "CardOffer", "NoBookingForCard", "Recent", "check_in_with_card", "offer", "take_with_card"]

GREEN_REASON = "elderly"  # the only green channel a card can show: its holder's age


class NoBookingForCard(errors.NotFound):
    """Check-in asked with a card whose holder has no booking left today."""

    code = "no_booking_for_card"


@dataclass(frozen=True)
class Recent:
    """The citizen's last ticket taken with the card: its matter when it had one, else its line."""

    line: str
    matter: str | None


@dataclass(frozen=True)
class CardOffer:
    card: CardSeen
    appointment: appointments.Appointment | None  # today's booking of this card, if any
    refusal: errors.QueueError | None  # why that booking cannot be checked in now (too early, too late)
    recent: Recent | None
    green: bool  # offered the green channel by age

    @property
    def can_check_in(self) -> bool:
        return self.appointment is not None and self.refusal is None


def green_by_age(config: HallConfig, card: CardSeen, now: datetime) -> bool:
    """The holder is at least the hall file's ``green_channel_min_age`` today (hall time)."""
    min_age = config.kiosk.green_channel_min_age
    if min_age is None:
        return False
    today = calendar.local(now, config.hall).date()
    return card.age(today) >= min_age


def recent_choice(store: Store, config: HallConfig, id_hash: str, now: datetime) -> Recent | None:
    """The matter (or line) of the last ticket taken with this card within the hall's
    ``remember_recent_matter_days``; None when the hall keeps no memory or the matter is gone from
    the hall file. Found by the keyed hash, so nothing of the number itself is needed."""
    days = config.kiosk.remember_recent_matter_days
    if days <= 0:
        return None
    since = utc_iso(now - timedelta(days=days))
    rows = store.all(
        "SELECT line, matter FROM tickets WHERE id_hash = ? AND issued_at >= ?"
        " ORDER BY issued_at DESC, id DESC LIMIT 5",
        (id_hash, since),
    )
    lines = {line.prefix for line in config.lines}
    matters = {m.code for m in config.matters}
    for row in rows:
        if row["matter"] in matters:
            return Recent(config.line_of_matter(row["matter"]).prefix, row["matter"])
        if row["matter"] is None and row["line"] in lines:
            return Recent(row["line"], None)
    return None


def booking_for_card(store: Store, config: HallConfig, id_hash: str, now: datetime) -> appointments.Appointment | None:
    """Today's booking of this card that check-in can still take (the first), or else the last one
    still booked whose check-in has closed, so the kiosk can say it is too late rather than nothing."""
    found = appointments.find_for_checkin(store, config, id_hash=id_hash, now=now)
    if found is not None:
        return found
    row = store.one(
        "SELECT * FROM appointments WHERE hall = ? AND id_hash = ? AND service_day = ? AND state = 'booked'"
        " ORDER BY slot_start DESC, id DESC LIMIT 1",
        (config.hall.id, id_hash, calendar.service_day(now, config.hall)),
    )
    return appointments.Appointment.from_row(row) if row else None


def offer(store: Store, config: HallConfig, card: CardSeen, now: datetime) -> CardOffer:
    """What the kiosk offers for a card just read; reads only (the card is used on the touch)."""
    booking = booking_for_card(store, config, card.id_hash, now)
    why = appointments.refusal(store, config, booking, now) if booking is not None else None
    return CardOffer(
        card=card,
        appointment=booking,
        refusal=why,
        recent=recent_choice(store, config, card.id_hash, now),
        green=green_by_age(config, card, now),
    )


def _replayed(service: HallService, kiosk: str, request_key: str | None) -> int | None:
    """The ticket an earlier post of the same form took (a double tap, a retry after a dropped
    answer): the card is used up by then, and the answer must be that ticket, not a refusal."""
    if request_key is None:
        return None
    row = service.store.one("SELECT ticket_id FROM take_requests WHERE requester = ? AND key = ?", (kiosk, request_key))
    return row["ticket_id"] if row else None


def _card(service: HallService, kiosk: str, token: str) -> CardSeen:
    card = latest_card(service.store, kiosk, service.clock.now(), token=token)
    if card is None:
        raise CardGone("err_card_gone")
    return card


def take_with_card(
    service: HallService,
    kiosk: str,
    token: str,
    *,
    line: str | None = None,
    matter: str | None = None,
    actor: str | None = None,
    request_key: str | None = None,
) -> Issued:
    """The usual ticket, taken with the card: green (reason elderly) when the holder's age gives it,
    and carrying the keyed hash and the masked number. One transaction with the card's use."""
    with service.store.immediate():
        earlier = _replayed(service, kiosk, request_key)
        hashed: str | None = None
        masked: str | None = None
        if earlier is not None:
            # the same form again: take_ticket answers with that ticket; asked the same way (green
            # as it was), or it would be refused as a key reused for another request
            green = service.ticket(earlier).green
        else:
            card = _card(service, kiosk, token)
            green = green_by_age(service.config, card, service.clock.now())
            hashed, masked = card.id_hash, card.id_masked
        return service.take_ticket(
            line=line,
            matter=matter,
            green=green,
            green_reason=GREEN_REASON if green else None,
            kiosk=kiosk,
            actor=actor,
            request_key=request_key,
            id_hash=hashed,
            id_masked=masked,
        )


def check_in_with_card(
    service: HallService, kiosk: str, token: str, *, actor: str | None = None, request_key: str | None = None
) -> tuple[appointments.Appointment, Issued]:
    """Check in the card holder's booking today (appointments.check_in, with the card used up in the
    same transaction); the ticket carries the booking's slot start, hash and masked number."""
    store, config = service.store, service.config
    with store.immediate():
        earlier = _replayed(service, kiosk, request_key)
        if earlier is not None:
            row = store.one("SELECT reference FROM appointments WHERE ticket_id = ?", (earlier,))
            if row is None:
                raise errors.RequestKeyReused("err_request_key_reused")
            return appointments.check_in(service, row["reference"], kiosk=kiosk, actor=actor, request_key=request_key)
        card = _card(service, kiosk, token)
        booking = booking_for_card(store, config, card.id_hash, service.clock.now())
        if booking is None:
            raise NoBookingForCard("err_no_booking_for_card")
        return appointments.check_in(service, booking.reference, kiosk=kiosk, actor=actor, request_key=request_key)
