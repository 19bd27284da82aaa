"""The web's view of the text table, which lives in ``tongban/texts`` so the domain can read it too."""

from __future__ import annotations

from ..texts import LANGS, Msg, TextError, both, table, text

__all__ = ["LANGS", "Msg", "TextError", "both", "table", "text"]
