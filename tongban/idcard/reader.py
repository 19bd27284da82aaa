"""One read of a card over any transport: find card, select card, read text (docs/idcard.md).

A SAM answers find card with 9F while a card lies on it and 80 otherwise, then wants select and
read in that order; many readers answer 80 to find card after a good read until the card is lifted
and put back, which is why the worker reads once per placement.
"""

from __future__ import annotations

from . import frames
from .drivers.base import Deadline, ReaderDriver
from .errors import BadFrame, ReaderTimeout
from .frames import Answer, Card

COMMAND_WAIT_S = 1.0  # find and select: a SAM answers within ~100 ms
READ_WAIT_S = 3.0  # read: the SAM authenticates and reads the card over RF (~0.5-1 s), then 1.3 KB


class CardReader:
    def __init__(self, driver: ReaderDriver):
        self.driver = driver

    def command(self, request: tuple[int, int], wait_s: float) -> Answer:
        """Send one request and return its checked answer."""
        deadline = Deadline(wait_s)
        head = self.driver.exchange(frames.command_frame(*request), frames.HEADER_LEN, wait_s)
        if len(head) < frames.HEADER_LEN:
            if not frames.PREAMBLE.startswith(head[: len(frames.PREAMBLE)]):
                raise BadFrame(f"no preamble: got {len(head)} byte(s) starting {head[:7].hex(' ')}")
            raise ReaderTimeout(f"{len(head)} byte(s) of the answer header in {wait_s:g} s")
        length = frames.answer_length(head)
        rest = self.driver.exchange(b"", length, deadline.left())
        if len(rest) < length:
            raise ReaderTimeout(f"{len(rest)} of {length} answer byte(s) in {wait_s:g} s")
        return frames.parse_answer(head + rest)

    def find(self) -> bool:
        """True while a card lies on the reader (and it has not been read since it was put there)."""
        answer = self.command(frames.FIND, COMMAND_WAIT_S)
        if answer.sw3 == frames.SW3_FOUND:
            return True
        if answer.sw3 == frames.SW3_NOT_FOUND:
            return False
        raise frames.status_error(answer, "find card")

    def read(self) -> Card:
        """Select the card found and read its text; the photo that comes with it is ignored."""
        answer = self.command(frames.SELECT, COMMAND_WAIT_S)
        if answer.sw3 != frames.SW3_OK:
            raise frames.status_error(answer, "select card")
        answer = self.command(frames.READ, READ_WAIT_S)
        if answer.sw3 != frames.SW3_OK:
            raise frames.status_error(answer, "read card")
        return frames.card_from_read(answer)

    def read_card(self) -> Card | None:
        """The card on the reader, or None when there is none."""
        return self.read() if self.find() else None
