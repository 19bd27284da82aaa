"""A reader's side of the protocol: hears request frames, answers as a SAM with a card would.

The dummy driver puts one in place of a port for the demo, and the tests' recording fake reader
(tests/tools/fake_idcard.py) builds its faults on it. It keeps the protocol's order: a card must be
found, then selected, then read, as a real SAM insists.
"""

from __future__ import annotations

from . import frames
from .frames import Card


class ReaderSimulator:
    def __init__(self, card: Card | None = None):
        self.card = card
        self.selected = False
        self._heard = bytearray()

    def answer(self, cmd: int, para: int) -> bytes:
        """The answer frame to one request."""
        if (cmd, para) == frames.STATUS:
            return frames.answer_frame(frames.SW3_OK)
        if (cmd, para) == frames.FIND:
            self.selected = False
            if self.card is None:
                return frames.answer_frame(frames.SW3_NOT_FOUND)
            return frames.answer_frame(frames.SW3_FOUND, bytes(4))  # the card's IIN; ours is zeros
        if (cmd, para) == frames.SELECT:
            if self.card is None:
                return frames.answer_frame(frames.SW3_SELECT_FAILED)
            self.selected = True
            return frames.answer_frame(frames.SW3_OK, bytes(8))  # the card's serial number
        if (cmd, para) == frames.READ:
            if self.card is None or not self.selected:
                return frames.answer_frame(frames.SW3_READ_FAILED)
            self.selected = False
            return frames.read_answer(self.card)
        return frames.answer_frame(0x21)  # a command the reader does not understand

    def feed(self, data: bytes) -> bytes:
        """Bytes the host sent; the answers to every whole request among them (a request's check
        byte is checked: a bad one is answered 10, as a reader does)."""
        self._heard += data
        out = bytearray()
        while True:
            start = self._heard.find(frames.PREAMBLE)
            if start < 0 or len(self._heard) < start + frames.HEADER_LEN:
                break
            length = int.from_bytes(self._heard[start + 5 : start + 7], "big")
            end = start + frames.HEADER_LEN + length
            if len(self._heard) < end:
                break
            frame = bytes(self._heard[start:end])
            del self._heard[:end]
            if length < 3 or frames.xor(frame[5:-1]) != frame[-1]:
                out += frames.answer_frame(0x10)
                continue
            out += self.answer(frame[7], frame[8])
        return bytes(out)
