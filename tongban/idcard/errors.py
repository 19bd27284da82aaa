"""Named errors of the ID-card readers, each with a code and words in both languages.

The reader worker turns them into a device state and the CLI into an exit code, without parsing
messages. The words come from the text table (tongban/texts/idcard.toml), so the same fault reads
the same on the console, in the alert and at the command line. No message ever carries card data.
"""

from __future__ import annotations

from ..texts import text


class IdcardError(Exception):
    """Anything that went wrong between us and an ID-card reader."""

    code = "idcard_error"
    #: the device state this fault leaves the reader in (device_status): "offline" when the link is
    #: gone, "read_error" when the reader is there but a read failed
    state = "read_error"

    def __init__(self, detail: str = "", **values):
        self.detail = detail  # for the technician's log: bytes counts, status codes, never card data
        self.values = values
        super().__init__(f"{self.code}: {detail}" if detail else self.code)

    def message(self, lang: str) -> str:
        return text(f"idcard_err_{self.code}", lang, **self.values)

    @property
    def message_zh(self) -> str:
        return self.message("zh")

    @property
    def message_en(self) -> str:
        return self.message("en")


class IdcardConfigError(IdcardError, ValueError):
    """An `idcard` URL that does not validate; `errors` holds every problem found."""

    code = "bad_url"

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


class NoCard(IdcardError):
    """No card on the reader (find card answered 00 00 80), or it was lifted mid-read."""

    code = "no_card"
    state = "ok"


class SelectFailed(IdcardError):
    """Find card saw a card but select card failed (SW3 81): usually a card moved while being read."""

    code = "select_failed"


class ReadFailed(IdcardError):
    """The reader answered a read with a failure status (SW3 41 read failed, 31-33 authentication…)."""

    code = "read_failed"


class BadFrame(IdcardError):
    """Bytes that are not a valid answer: wrong preamble, bad check byte, impossible length."""

    code = "bad_frame"


class BadCardData(IdcardError):
    """A well-formed answer whose text block is not a card's (bad ID number checksum, bad dates)."""

    code = "bad_card_data"


class ReaderStatus(IdcardError):
    """The reader refused the command itself (SW3 10, 11, 21, 24, 60, 66…): see `sw3`."""

    code = "reader_status"


class ReaderTimeout(IdcardError):
    """No complete answer within the wait: a slow, busy or wrongly configured reader (baud rate)."""

    code = "timeout"


class ReaderGone(IdcardError):
    """The port cannot be opened or was closed under us: unplugged, powered off, converter down."""

    code = "gone"
    state = "offline"
