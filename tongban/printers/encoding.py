"""The one place where ticket text becomes printer bytes.

python-escpos' own `text()` guesses a code page per character and only switches to GB18030
when it sees a CJK ideograph, so full-width punctuation such as ：（），。 comes out as
garbage on Chinese printers. Every string on a text-mode ticket therefore goes through
`TextEncoder`: the job starts with ESC @ (known state) and FS & (Chinese/Kanji mode, so the
printer reads two-byte codes), and text is encoded with the printer's configured encoding.
"""

from __future__ import annotations

import logging
import unicodedata

log = logging.getLogger(__name__)

ESC_INIT = b"\x1b@"
FS_CHINESE_ON = b"\x1c&"

ENCODINGS = ("gb18030", "gbk", "big5")


class TextEncoder:
    def __init__(self, encoding: str = "gb18030"):
        if encoding not in ENCODINGS:
            raise ValueError(f"unsupported printer encoding {encoding!r}")
        self.encoding = encoding

    def prelude(self) -> bytes:
        # ESC @ first: it resets whatever a previous job (or another host) left behind,
        # and on some models it also clears Chinese mode, so FS & must come after it.
        return ESC_INIT + FS_CHINESE_ON

    def clean(self, text: str) -> str:
        # Names and reminders come from hall config; a stray ESC or GS in them would be
        # executed by the printer as a command, so control characters never reach it.
        return "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch) != "Cc")

    def encode(self, text: str) -> bytes:
        out = bytearray()
        missing = []
        for ch in self.clean(text):
            try:
                out += ch.encode(self.encoding)
            except UnicodeEncodeError:
                # big5 has no simplified characters and gbk lacks a few symbols; a '?' on
                # the slip is better than a refused ticket, and the log says which.
                missing.append(ch)
                out += b"?"
        if missing:
            log.warning("%s cannot encode %r; printed as '?'", self.encoding, "".join(missing))
        return bytes(out)

    def columns(self, text: str) -> int:
        """Printed width in half-width columns (12 dots each in font A).

        A character is as wide as the printer draws it: one column for a single-byte code,
        two for any multi-byte code. That differs from Unicode's East Asian Width for
        characters such as '·', which are narrow in Unicode but double-byte in GB18030.
        """
        return sum(self._char_columns(ch) for ch in self.clean(text) if ch != "\n")

    def _char_columns(self, ch: str) -> int:
        try:
            return 1 if len(ch.encode(self.encoding)) == 1 else 2
        except UnicodeEncodeError:
            return 1  # printed as '?'
