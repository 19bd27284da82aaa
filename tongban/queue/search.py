"""Finding a matter the way people ask for it (docs/kiosk.md "Everyday names"): one search for the
kiosk's letter keyboard, the public /info page and ``GET /api/v1/matters?q=``.

Built once per hall file (``MatterSearch.for_config``); pure Python, no Flask.

What a query may be:

- Chinese, as people say it: "我要办社保卡", "营业执照丢了怎么办". Filler words and verbs are dropped
  ("我要", "怎么", "了"), everyday words are widened with the equivalence table (社保 → 社会保险,
  社会保障; 丢了 → 挂失, 补领), and every remaining word must be found in the matter's name or its
  aliases. A query whose characters are wrong but sound right (失业登计) is matched by its pinyin.
- Pinyin: full (shiyedengji), initials (sydj), or mixed (shiydj), each character's syllable
  abbreviated to any prefix. Polyphonic characters accept every reading. Spelling slips are forgiven
  as a fuzzy match: zh/z, ch/c, sh/s, ng/n, v/u, and for five letters or more one wrong, missing or
  extra letter.
- English words from the English name, or a matter's code.

Ranking, best first (``TIERS``): the name itself or its beginning; an everyday name (an alias, or a
word of the equivalence table); a part of the name; a fuzzy match. Within a tier, the closer and
shorter name comes first, then the hall file's order.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import HallConfig, Matter

TIERS = ("name", "everyday", "part", "fuzzy")  # 0..3, the order of the results
MAX_LETTERS = 12  # the kiosk's keyboard query
MAX_QUERY = 40  # characters looked at in any query
_FUZZY_LETTERS = 5  # from this many letters, one wrong, missing or extra letter is forgiven
_CACHE = 512  # answers remembered per search (kiosks ask the same few queries all day)


def _is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def _fold(syllable: str) -> str:
    """A spelling with the usual slips taken out: zh/ch/sh → z/c/s, ng → n, v → u."""
    s = syllable.replace("zh", "z").replace("ch", "c").replace("sh", "s").replace("ng", "n")
    return s.replace("v", "u")


@dataclass(frozen=True)
class Words:
    """The shipped table of everyday words (queue/search_words.toml) with a hall's additions."""

    equivalents: Mapping[str, tuple[str, ...]]
    fillers: frozenset[str]

    def extended(self, extra: Iterable[tuple[str, Iterable[str]]]) -> Words:
        merged = dict(self.equivalents)
        for word, alternatives in extra:
            merged[word] = tuple(dict.fromkeys((*merged.get(word, ()), *alternatives)))
        return Words(merged, self.fillers)


@cache
def shipped_words() -> Words:
    raw = resources.files(__package__).joinpath("search_words.toml").read_text(encoding="utf-8")
    doc = tomllib.loads(raw)
    equivalents = {k: tuple(v) for k, v in doc["equivalents"].items()}
    return Words(equivalents, frozenset(doc["fillers"]["words"]))


# ---------- pinyin spellings ----------


@dataclass(frozen=True)
class Spelling:
    """The syllables of a text, one tuple of readings per character (ASCII letters and digits stand
    for themselves), as typed and folded (``_fold``), and the usual reading of each in context."""

    readings: tuple[tuple[str, ...], ...]
    folded: tuple[tuple[str, ...], ...]
    usual: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> Spelling:
        from pypinyin import Style, lazy_pinyin, pinyin

        han = "".join(ch for ch in text if _is_han(ch))
        usual_han = lazy_pinyin(han, style=Style.NORMAL)
        if len(usual_han) != len(han):
            usual_han = [""] * len(han)
        readings: list[tuple[str, ...]] = []
        usual: list[str] = []
        i = 0
        for ch in text:
            if _is_han(ch):
                heard = [r.lower() for r in pinyin(ch, style=Style.NORMAL, heteronym=True)[0]]
                context = usual_han[i].lower()
                i += 1
                options = tuple(dict.fromkeys(r for r in [context, *heard] if r.isascii() and r.isalpha()))
                if options:
                    readings.append(options)
                    usual.append(options[0])
            elif ch.isascii() and ch.isalnum():
                readings.append((ch.lower(),))
                usual.append(ch.lower())
        folded = tuple(tuple(dict.fromkeys(_fold(r) for r in options)) for options in readings)
        return cls(tuple(readings), folded, tuple(usual))


# A position while matching letters against a spelling: (char index, reading index, letters of that
# reading consumed); reading -1 is "before char index". The first field says the match began at the
# first character.
_State = tuple[bool, int, int, int]


def _step(states: set[_State], letter: str, readings: tuple[tuple[str, ...], ...]) -> set[_State]:
    """Consume one letter. A character may be typed as any prefix of any of its readings (sydj,
    shiyedengji, shiydj), so after each letter the next character may begin."""
    n = len(readings)
    out: set[_State] = set()

    def begin(first: bool, i: int) -> None:
        if i >= n:
            return
        for j, syllable in enumerate(readings[i]):
            if syllable[0] == letter:
                if len(syllable) > 1:
                    out.add((first, i, j, 1))
                out.add((first, i + 1, -1, 0))

    for first, i, j, k in states:
        if j < 0:
            begin(first, i)
            continue
        syllable = readings[i][j]
        if syllable[k] == letter:
            if k + 1 < len(syllable):
                out.add((first, i, j, k + 1))
            out.add((first, i + 1, -1, 0))
        begin(first, i + 1)  # the syllable abbreviated to what was typed; the next one begins
    return out


def _run(letters: str, readings: tuple[tuple[str, ...], ...]) -> set[_State]:
    states: set[_State] = {(i == 0, i, -1, 0) for i in range(len(readings))}
    for letter in letters:
        states = _step(states, letter, readings)
        if not states:
            break
    return states


def _next_letters(states: set[_State], readings: tuple[tuple[str, ...], ...]) -> set[str]:
    out: set[str] = set()
    for _first, i, j, k in states:
        if j >= 0:
            out.add(readings[i][j][k])
            i += 1
        if i < len(readings):
            out |= {syllable[0] for syllable in readings[i]}
    return out


def _one_slip(query: str, text: str) -> bool:
    """Some beginning of ``text`` is ``query`` with at most one letter wrong, missing or extra."""
    m = len(query)
    i = 0
    while i < m and i < len(text) and query[i] == text[i]:
        i += 1
    if i == m:
        return True
    return (
        query[i + 1 :] == text[i + 1 : m]  # one wrong letter
        or query[i + 1 :] == text[i : m - 1]  # one letter too many
        or query[i:] == text[i + 1 : m + 1]  # one letter left out
    )


# ---------- the search ----------


@dataclass(frozen=True)
class Hit:
    code: str
    tier: int  # index into TIERS
    rank: tuple  # the order within the tier, smaller first


@dataclass(frozen=True)
class _Entry:
    order: int
    code: str
    name_zh: str
    name_en: str
    everyday: tuple[str, ...]  # aliases, then the equivalence words that find this name
    aliases: int  # how many of ``everyday`` the hall file gave
    name: Spelling
    everyday_spellings: tuple[Spelling, ...]


@dataclass(frozen=True)
class _Term:
    """One word of a Chinese query and what may stand for it in a name."""

    word: str
    alternatives: tuple[str, ...]  # the word itself first
    required: bool  # False for a filler that is also in the table ("办"): it only helps the rank


class MatterSearch:
    def __init__(self, matters: Iterable[Matter], words: Words | None = None):
        self.words = words or shipped_words()
        self.entries = tuple(self._entry(i, m) for i, m in enumerate(matters))
        # Longest first: "丢了" before "丢", "在哪里" before "在哪".
        vocabulary = set(self.words.equivalents) | set(self.words.fillers)
        self._vocabulary = sorted(vocabulary, key=len, reverse=True)
        self._cache: dict[tuple[str, bool], list[Hit]] = {}

    @classmethod
    def for_config(cls, config: HallConfig) -> MatterSearch:
        return cls(config.matters, shipped_words().extended(config.search.equivalents))

    def _entry(self, order: int, matter: Matter) -> _Entry:
        derived = [
            word
            for word, alternatives in self.words.equivalents.items()
            if len(word) >= 2 and any(a in matter.name_zh for a in alternatives) and word not in matter.name_zh
        ]
        everyday = tuple(dict.fromkeys((*matter.aliases, *derived)))
        return _Entry(
            order,
            matter.code,
            matter.name_zh,
            matter.name_en,
            everyday,
            len(matter.aliases),
            Spelling.of(matter.name_zh),
            tuple(Spelling.of(word) for word in everyday),
        )

    # ----- queries -----

    @staticmethod
    def letters(query: str) -> str:
        """The kiosk keyboard's query: lower-case letters only, at most MAX_LETTERS."""
        return "".join(c for c in query.lower() if "a" <= c <= "z")[:MAX_LETTERS]

    def search(self, query: str, *, keyboard: bool = False) -> list[str]:
        """Codes of the matching matters, best first. ``keyboard``: the kiosk's letters, pinyin only,
        no letter slips (its keys that would find nothing are dimmed, so none can be typed)."""
        return [hit.code for hit in self.hits(query, keyboard=keyboard)]

    def hits(self, query: str, *, keyboard: bool = False) -> list[Hit]:
        query = self.letters(query) if keyboard else _clean(query)
        if not query:
            return []
        key = (query, keyboard)
        found = self._cache.get(key)
        if found is None:
            found = self._hits(query, keyboard)
            if len(self._cache) >= _CACHE:
                self._cache.clear()
            self._cache[key] = found
        return list(found)

    def _hits(self, query: str, keyboard: bool) -> list[Hit]:
        best: dict[str, Hit] = {}

        def add(hits: Iterable[Hit]) -> None:
            for hit in hits:
                old = best.get(hit.code)
                if old is None or (hit.tier, hit.rank) < (old.tier, old.rank):
                    best[hit.code] = hit

        if keyboard:
            add(self._pinyin(query, slips=False))
        elif any(_is_han(ch) for ch in query):
            add(self._chinese(query))
        else:
            add(self._latin(query))
        order = {e.code: e.order for e in self.entries}
        return sorted(best.values(), key=lambda h: (h.tier, h.rank, order[h.code]))

    def next_letters(self, query: str) -> set[str]:
        """The letters that, typed next on the kiosk's keyboard, still find something."""
        query = self.letters(query)
        out: set[str] = set()
        for entry in self.entries:
            for spelling in (entry.name, *entry.everyday_spellings):
                for readings in (spelling.readings, spelling.folded):
                    out |= _next_letters(_run(query, readings), readings)
        return out

    # ----- pinyin -----

    def _pinyin(self, letters: str, *, slips: bool, floor: int = 0) -> list[Hit]:
        """Letters against every name and everyday name; ``floor`` is the best tier allowed (a Chinese
        query's pinyin is a fuzzy match however well it spells)."""
        hits = []
        folded = _fold(letters)
        for entry in self.entries:
            length = len(entry.name.readings)
            states = _run(letters, entry.name.readings)
            if states:
                first = any(s[0] for s in states)
                at = min((s[1] for s in states), default=0)
                hits.append(Hit(entry.code, max(floor, 0 if first else 2), (0, at, length)))
                continue
            everyday = [i for i, sp in enumerate(entry.everyday_spellings) if _run(letters, sp.readings)]
            if everyday:  # the hall file's own aliases before the table's words
                hits.append(Hit(entry.code, max(floor, 1), (0, int(everyday[0] >= entry.aliases), length)))
                continue
            spellings = (entry.name, *entry.everyday_spellings)
            if any(_run(folded, sp.folded) for sp in spellings):
                hits.append(Hit(entry.code, 3, (1, 0, length)))
                continue
            if slips and len(letters) >= _FUZZY_LETTERS and any(_slip(folded, sp) for sp in spellings):
                hits.append(Hit(entry.code, 3, (2, 0, length)))
        return hits

    # ----- English, codes -----

    def _latin(self, query: str) -> list[Hit]:
        hits = self._pinyin(self.letters(query), slips=True) if self.letters(query) else []
        lowered = query.lower()
        words = lowered.split()
        found = {h.code for h in hits}
        for entry in self.entries:
            if len(words) > 1 and entry.code not in found:
                # Pinyin words apart ("shebao zhuanyi"): each in the name or an everyday name.
                places = [self._word_in(self.letters(w), entry) for w in words]
                if all(places):
                    hits.append(Hit(entry.code, 1 if "everyday" in places else 2, (3, 0, len(entry.name.readings))))
            name = entry.name_en.lower()
            length = len(entry.name.readings)
            if lowered == entry.code.lower() or (len(lowered) >= 2 and name.startswith(lowered)):
                hits.append(Hit(entry.code, 0, (0, 0, length)))
            elif len(lowered) >= 3 and (where := re.search(rf"\b{re.escape(lowered)}", name)):
                hits.append(Hit(entry.code, 2, (1, where.start(), length)))
            elif len(words) > 1 and all(len(w) >= 3 and re.search(rf"\b{re.escape(w)}", name) for w in words):
                hits.append(Hit(entry.code, 2, (2, 0, length)))
        return hits

    @staticmethod
    def _word_in(letters: str, entry: _Entry) -> str | None:
        if letters and _run(letters, entry.name.readings):
            return "name"
        if letters and any(_run(letters, sp.readings) for sp in entry.everyday_spellings):
            return "everyday"
        return None

    # ----- Chinese -----

    def _terms(self, query: str) -> list[_Term]:
        """The query cut into table words (longest first) and runs of other characters."""
        terms: list[_Term] = []
        literal = ""
        i = 0
        while i < len(query):
            word = next((w for w in self._vocabulary if query.startswith(w, i)), None)
            if word is None:
                literal += query[i]
                i += 1
                continue
            if literal:
                terms.append(_Term(literal, (literal,), True))
                literal = ""
            i += len(word)
            if word in self.words.equivalents:
                alternatives = (word, *self.words.equivalents[word])
                terms.append(_Term(word, alternatives, word not in self.words.fillers))
            # other fillers are dropped
        if literal:
            terms.append(_Term(literal, (literal,), True))
        if terms and not any(t.required for t in terms):
            terms = [_Term(t.word, t.alternatives, True) for t in terms]  # "办理" alone is what they want
        return terms

    def _chinese(self, query: str) -> list[Hit]:
        terms = self._terms(query)
        core = "".join(t.word for t in terms if t.required)
        if not core:  # nothing but filler words ("我想办一下"), unless a name begins so ("办理结果…")
            return [Hit(e.code, 0, (0, 0, len(e.name_zh))) for e in self.entries if e.name_zh.startswith(query)]
        hits: list[Hit] = []
        partial: list[Hit] = []
        for entry in self.entries:
            name = entry.name_zh
            length = len(name)
            if name.startswith(query) or name.startswith(core):
                hits.append(Hit(entry.code, 0, (0, 0, length)))
                continue
            # The query is an everyday name, or its beginning; one that says more is matched word by word.
            said = [i for i, a in enumerate(entry.everyday) if a.startswith(core)]
            if said:  # the hall file's own aliases before the table's words
                hits.append(Hit(entry.code, 1, (-9 if said[0] < entry.aliases else -8, 0, length)))
                continue
            matched = [_match_term(t, name, entry.everyday) for t in terms]
            required = [m for t, m in zip(terms, matched) if t.required]
            helpers = sum(1 for t, m in zip(terms, matched) if not t.required and m is not None)
            if required and all(m is not None for m in required):
                literal = all(m == "name" for m in required)
                pieces = sum(m == "alias" for m in required)
                hits.append(Hit(entry.code, 2 if literal else 1, (-helpers, pieces, length)))
            elif len(required) >= 2:
                # A long question with a word the catalogue does not know ("社保卡坏了想换一张"): half of
                # what it says or all words but one, a word of two characters or more among them, is a
                # fuzzy match.
                spoken = sum(len(t.word) for t in terms if t.required)
                known = [t.word for t, m in zip(terms, matched) if t.required and m is not None]
                half = 2 * sum(map(len, known)) >= spoken or len(known) == len(required) - 1
                if half and any(len(w) >= 2 for w in known):
                    partial.append(Hit(entry.code, 3, (-sum(map(len, known)), -helpers, length)))
        if not hits:
            hits = partial
        han = "".join(ch for ch in core if _is_han(ch))
        if han:
            from pypinyin import Style, lazy_pinyin

            sound = self.letters("".join(lazy_pinyin(han, style=Style.NORMAL)))
            seen = {h.code for h in hits}
            hits += [h for h in self._pinyin(sound, slips=False, floor=3) if h.code not in seen]
        return hits


def _match_term(term: _Term, name: str, everyday: tuple[str, ...]) -> str | None:
    """Where a term is found: "name" (as said), "alias" (a word of the table in the name, or an
    everyday name), None. A run of other characters may be found in pieces ("工伤认证")."""
    for n, alternative in enumerate(term.alternatives):
        if alternative in name:
            return "name" if n == 0 else "alias"
    if any(a in e for a in term.alternatives for e in everyday):
        return "alias"
    if len(term.alternatives) == 1 and len(term.word) > 1:
        if _in_pieces(term.word, name):
            return "name"
        if any(_in_pieces(term.word, e) for e in everyday):
            return "alias"
    return None


def _in_pieces(word: str, name: str) -> bool:
    """``word`` cut into pieces of two characters or more (one for an odd last one), each in ``name``."""
    i = 0
    while i < len(word):
        for size in range(len(word) - i, 0, -1):
            if (size >= 2 or i + size == len(word)) and word[i : i + size] in name:
                i += size
                break
        else:
            return False
    return True


def _slip(folded_query: str, spelling: Spelling) -> bool:
    """The query, folded, is some run of the spelling's usual syllables with one letter slipped."""
    usual = [_fold(s) for s in spelling.usual]
    for start in range(len(usual)):
        text = "".join(usual[start : start + len(folded_query) + 1])
        if text[:1] in folded_query[:2] or text[1:2] == folded_query[:1]:
            if _one_slip(folded_query, text):
                return True
    return False


def _clean(query: str) -> str:
    """Full-width letters made plain, case folded later; spaces, punctuation and symbols dropped
    from Chinese; English keeps its spaces (words)."""
    text = unicodedata.normalize("NFKC", query)[:MAX_QUERY]
    if any(_is_han(ch) for ch in text):
        return "".join(ch for ch in text if _is_han(ch) or (ch.isascii() and ch.isalnum()))
    text = "".join(ch if ch.isascii() and (ch.isalnum() or ch in " -'") else " " for ch in text)
    return " ".join(text.split())
