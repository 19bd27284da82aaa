"""Named refusals of the queue domain.

Each carries a machine-readable ``code`` (the JSON API's ``error``) and a message in Chinese and in
English that a clerk or a citizen can act on.
"""

from __future__ import annotations


class QueueError(Exception):
    code = "queue_error"

    def __init__(self, message_zh: str, message_en: str, **details):
        self.message_zh = message_zh
        self.message_en = message_en
        self.details = details
        super().__init__(f"{message_en} / {message_zh}")

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


class WrongWindow(QueueError):
    code = "wrong_window"


class LineNotAble(QueueError):
    code = "line_not_able"


class RecallLimit(QueueError):
    code = "recall_limit"


class AlreadyRated(QueueError):
    code = "already_rated"
