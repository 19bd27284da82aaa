"""Named refusals of the queue domain.

Each carries a machine-readable ``code`` (the JSON API's ``error``) and a message in Chinese and in
English that a clerk or a citizen can act on, worded by a key of the text table (tongban/texts,
errors.toml) and the values for its placeholders. ``details`` go into the JSON body as they are. What
a refusal is in HTTP is the web's business (tongban/web/errors.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..texts import Msg


class QueueError(Exception):
    code = "queue_error"

    def __init__(self, key: str, values: Mapping[str, object] | None = None, /, **details):
        self.msg = Msg(key, values)
        self.message_zh, self.message_en = self.msg.both()
        self.details = details
        super().__init__(f"{self.message_en} / {self.message_zh}")

    def as_dict(self) -> dict:
        return {"error": self.code, "message_zh": self.message_zh, "message_en": self.message_en, **self.details}


class NotFound(QueueError):
    code = "not_found"


class UnknownLine(NotFound):
    code = "unknown_line"


class UnknownMatter(NotFound):
    code = "unknown_matter"


class UnknownWindow(NotFound):
    code = "unknown_window"


class UnknownTicket(NotFound):
    code = "unknown_ticket"


class HallClosed(QueueError):
    code = "hall_closed"


class LineClosed(QueueError):
    code = "line_closed"


class QuotaReached(QueueError):
    code = "quota_reached"


class IllegalTransition(QueueError):
    code = "illegal_transition"


class WindowNotOpen(QueueError):
    code = "window_not_open"


class WindowBusy(QueueError):
    code = "window_busy"


class NothingWaiting(QueueError):
    code = "nothing_waiting"


class RequestKeyReused(QueueError):
    """A repeat-safe key sent again with a different request: a client bug, never a second ticket."""

    code = "request_key_reused"


class WrongWindow(QueueError):
    code = "wrong_window"


class WrongLine(QueueError):
    """A clerk acting on a line their window is not able to serve (docs/architecture.md §Ticket lifecycle)."""

    code = "wrong_line"


class LineNotAble(QueueError):
    code = "line_not_able"


class RecallLimit(QueueError):
    code = "recall_limit"


class AlreadyRated(QueueError):
    code = "already_rated"


class ReasonRequired(QueueError):
    """A manager closing a line must say why, briefly: the kiosk shows it to citizens."""

    code = "invalid_input"


class NoShowUnconfirmed(QueueError):
    """A no-show pressed soon after the call or before the recalls are used up: a slow citizen may
    still be walking to the window, so it needs a second press (docs/architecture.md §Ticket lifecycle)."""

    code = "no_show_unconfirmed"


class UndoExpired(QueueError):
    """An undo asked for after the undo time (UNDO_SECONDS) of the action."""

    code = "undo_expired"


class UndoStale(QueueError):
    """Nothing to undo: the ticket's last step is not an undoable action, or not this clerk's."""

    code = "undo_stale"


class BadGreenReason(QueueError):
    """A green-channel reason that is not one of service.GREEN_REASONS, or one for a ticket that is not green."""

    code = "bad_green_reason"
