"""dummy://?card=NAME - a reader with one of the demo cards on it (demo_cards.toml), or none.

For the demo and for trying the kiosk without hardware. The card stays on the reader, so the
worker reads it once (one read per placement) until the devices process restarts.
"""

from __future__ import annotations

from ..demo import demo_cards
from ..simulator import ReaderSimulator
from .base import ReaderDriver


class DummyReader(ReaderDriver):
    def __init__(self, target, timeout_s):
        super().__init__(target, timeout_s)
        card = demo_cards()[target.card] if target.card else None
        self.simulator = ReaderSimulator(card)
        self.pending = b""

    def exchange(self, data, answer, wait_s):
        if data:
            self.pending = self.simulator.feed(data)  # stale input dropped: only this answer waits
        got, self.pending = self.pending[:answer], self.pending[answer:]
        return got


DRIVER = DummyReader
