"""Hall configuration: load a TOML file, check every field, report every problem at once.

A hall's IT person edits these files by hand, so a bad file must be answered with the full list of
what is wrong, each as ``path.to.field: what is wrong (what was expected)``, and never with a
half-loaded hall.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .checking import Checker, between, describe
from .displays.config import BusConfig, parse_bus_config
from .idcard.config import check_reader_url
from .printers.config import PrinterConfig, parse_printer_config

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MODES = ("on-site", "proxy", "multi-place")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_PERIOD_RE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_HHMM_RE = re.compile(r"^(\d{2}):(\d{2})$")


class ConfigError(Exception):
    """A hall file that cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: list[str], source: str = "config"):
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(problems))


@dataclass(frozen=True)
class Period:
    start: time
    end: time

    def __str__(self) -> str:
        end = "24:00" if self.end == END_OF_DAY else f"{self.end:%H:%M}"
        return f"{self.start:%H:%M}-{end}"


@dataclass(frozen=True)
class Notice:
    """A line of the hall's notices, in each language ('' where the hall file gives no English)."""

    zh: str
    en: str = ""


@dataclass(frozen=True)
class Hall:
    id: str
    name_zh: str
    name_en: str
    address: str
    phone: str
    timezone: str
    hours: dict[str, tuple[Period, ...]]
    public_url: str | None = None
    notices: tuple[Notice, ...] = ()
    late_return_behind: int = 3
    max_recalls: int = 3
    issue_during_lunch: bool = False

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Department:
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class Matter:
    code: str
    name_zh: str
    name_en: str
    department: str
    batch: int
    mode: str
    time_limit_days: int
    fee: str
    materials: tuple[str, ...]
    example: bool = False
    aliases: tuple[str, ...] = ()  # everyday names people search by (社保, 驾照); docs/kiosk.md


@dataclass(frozen=True)
class Line:
    prefix: str
    name_zh: str
    name_en: str
    matters: tuple[str, ...]
    number_width: int = 3
    daily_quota: int | None = None
    last_issue: time | None = None


@dataclass(frozen=True)
class Window:
    number: int
    name: str
    location: str
    phone: str
    able: tuple[str, ...]
    serving: tuple[str, ...]
    # English for English lines; without them an English line names the window by its number only
    # (a Chinese place inside an English sentence helps nobody who reads only English).
    name_en: str = ""
    location_en: str = ""
    # A help desk's console also shows the kiosks' help requests (docs/kiosk.md#asking-for-help);
    # the manager's console always does.
    help_desk: bool = False
    # The window's own ID-card reader (docs/idcard.md#at-the-window): read by the devices process as
    # "window:<number>", for a case opened with the number on the card.
    idcard: str | None = None

    @property
    def primary(self) -> str:
        return self.serving[0]

    def place(self, lang: str) -> str:
        """Where the window is, in ``lang`` ('' when the hall file gives no English)."""
        return self.location if lang == "zh" else self.location_en


@dataclass(frozen=True)
class PolicyConfig:
    # Minutes added to a ticket's age (docs/architecture.md §Dispatch). green 15 and primary line 0 were
    # chosen by measurement (bench/sweep_policy.py, docs/simulator.md "How the defaults were chosen"):
    # the smallest green credit that keeps green waits under half the others' on all six simulated
    # layouts (the ~93% day needs 15); every extra minute of it lengthens the others' tail, and a
    # primary-line credit only lengthened waits.
    # The appointment credit (counted from the slot's start) was measured, not tuned, by
    # bench/bench_appointments.py; the transfer credit is not simulated (no transfers in the scenarios).
    green_credit_min: float = 15.0
    appointment_credit_min: float = 20.0
    transfer_credit_min: float = 10.0
    primary_line_credit_min: float = 0.0
    balancer_interval_s: int = 60  # 30 s and 120 s measured within noise of 60 s
    balancer_auto_apply: bool = True
    # A window whose lines are empty calls from the other lines it is able to serve (unless pinned),
    # instead of idling until the balancer moves it (docs/simulator.md "Dispatch").
    idle_windows_take_able_lines: bool = True


@dataclass(frozen=True)
class Operations:
    """Keeping the hall box running (docs/install.md): backups, disk space, kiosk button mashing."""

    backup_dir: str = "backups"  # absolute, or relative to the database's folder
    keep: int = 14  # nightly backups kept (one a day)
    backup_time: time = time(2, 30)  # hall-local time of the nightly integrity check and backup
    disk_warn_mb: int = 500  # warn the manager below this much free space
    kiosk_max_per_minute: int = 12  # tickets one kiosk may issue in any 60 s

    def backup_path(self, database: str | Path) -> Path:
        folder = Path(self.backup_dir)
        return folder if folder.is_absolute() else Path(database).resolve().parent / folder


@dataclass(frozen=True)
class Kiosk:
    id: str
    name: str
    printer: str | None = None
    location: str = ""
    idcard: str | None = None  # the kiosk's ID-card reader URL (tongban/idcard/config.py, docs/idcard.md)


@dataclass(frozen=True)
class DistrictWindow:
    hall: str
    address: str
    window: str
    phone: str
    hours: str
    hall_id: str = ""  # the hall's id at the district (the catalogue's directory has it): cases are handed to it


@dataclass(frozen=True)
class CasesConfig:
    """Proxy and multi-place cases (docs/cases.md): due-date calendar, flags and retention."""

    retention_days: int = 365  # personal fields of a delivered or withdrawn case are purged after this
    near_due_days: int = 2  # flag a running case this many working days before its due day
    holidays: tuple[str, ...] = ()  # holiday files, resolved to absolute paths
    calendar: Any = None  # workdays.WorkCalendar; None until loaded (weekends only)


@dataclass(frozen=True)
class SearchConfig:
    """``[search]``: the hall's own everyday words, added to the shipped table (queue/search_words.toml)."""

    equivalents: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (what people say, words the names use)


@dataclass(frozen=True)
class AppointmentsConfig:
    """``[appointments]``: when a booked citizen may check in (docs/appointments.md). From
    ``early_checkin_min`` before the slot starts to ``late_checkin_min`` after it; a booking not checked
    in by the slot's end plus ``late_checkin_min`` becomes a no-show."""

    early_checkin_min: int = 30
    late_checkin_min: int = 15


@dataclass(frozen=True)
class KioskSettings:
    """``[kiosk]``: what a card on a kiosk's reader brings (docs/kiosk.md#with-an-id-card).

    ``green_channel_min_age``: a citizen this old or older (by the card's birth date) is offered the
    green channel; None (the default) offers nothing by age, the hall's rules deciding. And
    ``remember_recent_matter_days``: the matter of the citizen's last ticket taken with the card within
    so many days is offered first; 0 (the default) keeps no such memory."""

    green_channel_min_age: int | None = None
    remember_recent_matter_days: int = 0


@dataclass(frozen=True)
class HallConfig:
    hall: Hall
    departments: tuple[Department, ...]
    matters: tuple[Matter, ...]
    lines: tuple[Line, ...]
    windows: tuple[Window, ...]
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    kiosks: tuple[Kiosk, ...] = ()
    printers: tuple[PrinterConfig, ...] = ()
    buses: tuple[BusConfig, ...] = ()  # serial buses; LED displays and keypads are their devices
    district_windows: tuple[DistrictWindow, ...] = ()
    operations: Operations = field(default_factory=Operations)
    cases: CasesConfig = field(default_factory=CasesConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    appointments: AppointmentsConfig = field(default_factory=AppointmentsConfig)
    kiosk: KioskSettings = field(default_factory=KioskSettings)
    source: str = ""

    def line(self, prefix: str) -> Line:
        for line in self.lines:
            if line.prefix == prefix:
                return line
        raise KeyError(prefix)

    def matter(self, code: str) -> Matter:
        for matter in self.matters:
            if matter.code == code:
                return matter
        raise KeyError(code)

    def window(self, number: int) -> Window:
        for window in self.windows:
            if window.number == number:
                return window
        raise KeyError(number)

    def department(self, code: str) -> Department:
        for dept in self.departments:
            if dept.code == code:
                return dept
        raise KeyError(code)

    def kiosk_printer(self, kiosk_id: str | None) -> str | None:
        """The printer a kiosk's tickets print on (None: no kiosk, or a kiosk without a printer)."""
        return next((k.printer for k in self.kiosks if k.id == kiosk_id), None)

    def line_of_matter(self, code: str) -> Line:
        for line in self.lines:
            if code in line.matters:
                return line
        raise KeyError(code)


END_OF_DAY = time(23, 59, 59, 999999)


def _parse_hhmm(text: str, *, allow_24: bool = False) -> time | None:
    m = _HHMM_RE.match(text)
    if not m:
        return None
    hh, mm = int(m.group(1)), int(m.group(2))
    if allow_24 and (hh, mm) == (24, 0):
        return END_OF_DAY  # a period may run to midnight: "00:00-24:00" is open all day
    if hh > 23 or mm > 59:
        return None
    return time(hh, mm)


def _hall(c: Checker, doc: dict) -> Hall | None:
    table = c.table(doc.get("hall"), "hall") if "hall" in doc else None
    if table is None:
        if "hall" not in doc:
            c.problem("hall", "is missing (expected a [hall] table)")
        return None
    c.unknown(
        table,
        "hall",
        {
            "id",
            "name_zh",
            "name_en",
            "address",
            "phone",
            "timezone",
            "hours",
            "public_url",
            "notices",
            "late_return_behind",
            "max_recalls",
            "issue_during_lunch",
        },
    )
    hall_id = c.get(
        table,
        "hall",
        "id",
        str,
        check=lambda v: (
            None if _ID_RE.match(v) else f"{v!r} is not an id (expected lower-case letters, digits and '-')"
        ),
    )
    tz_name = c.get(table, "hall", "timezone", str, check=_check_timezone)
    hours: dict[str, tuple[Period, ...]] = {day: () for day in WEEKDAYS}
    hours_table = c.get(table, "hall", "hours", dict)
    if hours_table is not None:
        c.unknown(hours_table, "hall.hours", set(WEEKDAYS))
        for day in WEEKDAYS:
            hours[day] = _periods(c, hours_table, day)
    hall = Hall(
        id=hall_id or "",
        name_zh=c.text(table, "hall", "name_zh"),
        name_en=c.text(table, "hall", "name_en"),
        address=c.text(table, "hall", "address"),
        phone=c.text(table, "hall", "phone"),
        timezone=tz_name or "Asia/Shanghai",
        hours=hours,
        public_url=c.get(table, "hall", "public_url", str, required=False),
        notices=_notices(c, table),
        late_return_behind=c.get(table, "hall", "late_return_behind", int, required=False, default=3, check=between(0)),
        max_recalls=c.get(table, "hall", "max_recalls", int, required=False, default=3, check=between(0)),
        issue_during_lunch=c.get(table, "hall", "issue_during_lunch", bool, required=False, default=False),
    )
    return hall


def _check_timezone(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{name!r} is not a known time zone (expected an IANA name such as 'Asia/Shanghai')"
    return None


def _periods(c: Checker, hours: dict, day: str) -> tuple[Period, ...]:
    path = f"hall.hours.{day}"
    raw = c.strings(hours, "hall.hours", day, required=False)
    periods: list[Period] = []
    for i, text in enumerate(raw):
        m = _PERIOD_RE.match(text)
        start = _parse_hhmm(f"{m.group(1)}:{m.group(2)}") if m else None
        end = _parse_hhmm(f"{m.group(3)}:{m.group(4)}", allow_24=True) if m else None
        if start is None or end is None:
            c.problem(f"{path}[{i}]", f"{text!r} is not a period (expected 'HH:MM-HH:MM', e.g. '08:30-12:00')")
            continue
        if end <= start:
            c.problem(f"{path}[{i}]", f"{text!r} ends before it starts (expected the end after the start)")
            continue
        if periods and start < periods[-1].end:
            c.problem(
                f"{path}[{i}]",
                f"{text!r} overlaps or precedes {periods[-1]} (expected periods in order, not overlapping)",
            )
            continue
        periods.append(Period(start, end))
    return tuple(periods)


def _departments(c: Checker, doc: dict) -> list[Department]:
    out = []
    entries = c.entries(doc, "", "departments")
    for path, t in entries:
        c.unknown(t, path, {"code", "name_zh", "name_en"})
        out.append(Department(c.text(t, path, "code"), c.text(t, path, "name_zh"), c.text(t, path, "name_en")))
    c.unique([(f"{p}.code", d.code or None) for (p, _), d in zip(entries, out)], "department code")
    return out


def _matters(c: Checker, doc: dict, departments: set[str]) -> list[Matter]:
    out = []
    entries = c.entries(doc, "", "matters")
    for path, t in entries:
        c.unknown(
            t,
            path,
            {
                "code",
                "name_zh",
                "name_en",
                "department",
                "batch",
                "mode",
                "time_limit_days",
                "fee",
                "materials",
                "example",
                "aliases",
            },
        )
        dept = c.get(
            t,
            path,
            "department",
            str,
            check=lambda v: (
                None if v in departments else f"{v!r} is not a department (expected one of the [[departments]] codes)"
            ),
        )
        out.append(
            Matter(
                code=c.text(t, path, "code"),
                name_zh=c.text(t, path, "name_zh"),
                name_en=c.text(t, path, "name_en"),
                department=dept or "",
                batch=c.get(
                    t,
                    path,
                    "batch",
                    int,
                    default=1,
                    check=lambda v: None if v in (1, 2, 3) else f"is {v} (expected 1, 2 or 3)",
                ),
                mode=c.get(
                    t,
                    path,
                    "mode",
                    str,
                    default="on-site",
                    check=lambda v: None if v in MODES else f"{v!r} is not a mode (expected {', '.join(MODES)})",
                ),
                time_limit_days=c.get(t, path, "time_limit_days", int, default=0, check=between(0)),
                fee=c.text(t, path, "fee"),
                materials=c.strings(t, path, "materials"),
                example=c.get(t, path, "example", bool, required=False, default=False),
                aliases=_words(c, t["aliases"], f"{path}.aliases", "an everyday name people search by, as a string")
                if "aliases" in t
                else (),
            )
        )
    c.unique([(f"{p}.code", m.code or None) for (p, _), m in zip(entries, out)], "matter code")
    return out


MAX_WORD = 20  # an everyday name or search word, in characters


def _words(c: Checker, value: Any, path: str, example: str) -> tuple[str, ...]:
    """An array of short search words at ``path``: each non-empty, at most MAX_WORD characters, no repeats."""
    words = c.value(value, path, list, expect=f"an array of strings, each {example}")
    out: list[str] = []
    for i, word in enumerate(words or ()):
        where = f"{path}[{i}]"
        if not isinstance(word, str):
            c.problem(where, f"is {describe(word)} (expected {example})")
        elif not word.strip():
            c.problem(where, f"is empty (expected {example})")
        elif len(word.strip()) > MAX_WORD:
            c.problem(where, f"{word!r} is {len(word.strip())} characters (expected at most {MAX_WORD}: {example})")
        elif word.strip() in out:
            c.problem(where, f"{word!r} is listed twice (expected each word once)")
        else:
            out.append(word.strip())
    return tuple(out)


def _search(c: Checker, doc: dict) -> SearchConfig:
    """``[search]``: ``equivalents = { "社保" = ["社会保险"], … }``, what people say and the words matter
    names use for it (docs/kiosk.md "Everyday names")."""
    if "search" not in doc:
        return SearchConfig()
    t = c.table(doc["search"], "search")
    if t is None:
        return SearchConfig()
    c.unknown(t, "search", {"equivalents"})
    table = c.get(
        t, "search", "equivalents", dict, required=False, default={}, expect="a table of word = [words names use]"
    )
    out = []
    for word, alternatives in table.items():
        path = f"search.equivalents.{word}"
        if not word.strip() or len(word.strip()) > MAX_WORD:
            c.problem(path, f"{word!r} is not a search word (expected a key of 1 to {MAX_WORD} characters)")
            continue
        words = _words(c, alternatives, path, "a word that matter names use, as a string")
        if isinstance(alternatives, list) and not alternatives:
            c.problem(path, "is empty (expected at least one word that matter names use)")
        if words:
            out.append((word.strip(), words))
    return SearchConfig(equivalents=tuple(out))


def _lines(c: Checker, doc: dict, matters: set[str]) -> list[Line]:
    out = []
    entries = c.entries(doc, "", "lines")
    owner: dict[str, str] = {}
    for path, t in entries:
        c.unknown(t, path, {"prefix", "name_zh", "name_en", "matters", "number_width", "daily_quota", "last_issue"})
        prefix = c.get(
            t,
            path,
            "prefix",
            str,
            check=lambda v: (
                None if re.fullmatch("[A-Z]", v) else f"{v!r} is not a prefix (expected one capital letter A-Z)"
            ),
        )
        line_matters = c.strings(t, path, "matters")
        for i, code in enumerate(line_matters):
            if code not in matters:
                c.problem(f"{path}.matters[{i}]", f"{code!r} is not a matter (expected a [[matters]] code)")
            elif code in owner:
                c.problem(
                    f"{path}.matters[{i}]",
                    f"{code!r} is already in {owner[code]} (expected each matter in exactly one line)",
                )
            else:
                owner[code] = path
        last_issue = c.get(
            t,
            path,
            "last_issue",
            str,
            required=False,
            check=lambda v: None if _parse_hhmm(v) else f"{v!r} is not a time (expected 'HH:MM')",
        )
        out.append(
            Line(
                prefix=prefix or "",
                name_zh=c.text(t, path, "name_zh"),
                name_en=c.text(t, path, "name_en"),
                matters=line_matters,
                number_width=c.get(t, path, "number_width", int, required=False, default=3, check=between(2, 4)),
                daily_quota=c.get(t, path, "daily_quota", int, required=False, check=between(1)),
                last_issue=_parse_hhmm(last_issue) if last_issue else None,
            )
        )
    c.unique([(f"{p}.prefix", line.prefix or None) for (p, _), line in zip(entries, out)], "line prefix")
    for code in sorted(matters - set(owner)):
        c.problem("lines", f"matter {code!r} is in no line (expected every matter in exactly one line)")
    return out


def _notices(c: Checker, table: dict) -> tuple[Notice, ...]:
    """``notices``: tables ``{ zh = "…", en = "…" }`` (``en`` optional), or, as halls wrote them
    before, strings "中文 / English" split at the slash."""
    items = c.get(table, "hall", "notices", list, required=False, default=[])
    out = []
    for i, item in enumerate(items):
        path = f"hall.notices[{i}]"
        if isinstance(item, str):
            zh, _, en = item.partition(" / ")
            if zh.strip():
                out.append(Notice(zh.strip(), en.strip()))
            else:
                c.problem(path, "is empty (expected some text)")
        elif isinstance(item, dict):
            c.unknown(item, path, {"zh", "en"})
            out.append(Notice(c.text(item, path, "zh"), _english(c, item, path, "en")))
        else:
            c.problem(path, f'{item!r} is not a notice (expected {{ zh = "…", en = "…" }})')
    return tuple(out)


def _english(c: Checker, table: dict, path: str, key: str) -> str:
    """An optional English text: one language per field, so no Chinese characters in it."""
    value = c.text(table, path, key, required=False)
    if any("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" for ch in value):
        c.problem(
            f"{path}.{key}",
            f"{value!r} has Chinese characters (expected English only; Chinese goes in the field without _en)",
        )
    return value


def _windows(c: Checker, doc: dict, prefixes: set[str]) -> list[Window]:
    out = []
    entries = c.entries(doc, "", "windows")
    for path, t in entries:
        c.unknown(
            t,
            path,
            {"number", "name", "location", "name_en", "location_en", "phone", "able", "serving", "help_desk", "idcard"},
        )
        able = c.strings(t, path, "able")
        serving = c.strings(t, path, "serving")
        for i, prefix in enumerate(able):
            if prefix not in prefixes:
                c.problem(f"{path}.able[{i}]", f"{prefix!r} is not a line (expected a [[lines]] prefix)")
        if not able:
            c.problem(f"{path}.able", "is empty (expected at least one line prefix)")
        if not serving:
            c.problem(f"{path}.serving", "is empty (expected at least one line prefix, the primary first)")
        for i, prefix in enumerate(serving):
            if prefix not in able:
                c.problem(f"{path}.serving[{i}]", f"{prefix!r} is not in able (expected a subset of able)")
        out.append(
            Window(
                number=c.get(t, path, "number", int, default=0, check=between(1)),
                name=c.text(t, path, "name"),
                location=c.text(t, path, "location"),
                phone=c.text(t, path, "phone"),
                able=able,
                serving=serving,
                name_en=_english(c, t, path, "name_en"),
                location_en=_english(c, t, path, "location_en"),
                help_desk=c.get(t, path, "help_desk", bool, required=False, default=False),
                idcard=c.get(
                    t,
                    path,
                    "idcard",
                    str,
                    required=False,
                    expect='an ID-card reader URL such as "serial:///dev/ttyUSB2?baudrate=115200"',
                    check=check_reader_url,
                ),
            )
        )
    c.unique([(f"{p}.number", w.number or None) for (p, _), w in zip(entries, out)], "window number")
    servable = {prefix for w in out for prefix in w.able}
    for prefix in sorted(prefixes - servable):
        c.problem(
            "windows",
            f"line {prefix!r} has no window able to serve it (expected it in the able list of at least one window)",
        )
    return out


def _policy(c: Checker, doc: dict) -> PolicyConfig:
    if "policy" not in doc:
        return PolicyConfig()
    t = c.table(doc["policy"], "policy")
    if t is None:
        return PolicyConfig()
    defaults = PolicyConfig()
    c.unknown(t, "policy", set(PolicyConfig.__dataclass_fields__))
    values: dict[str, Any] = {}
    for name in ("green_credit_min", "appointment_credit_min", "transfer_credit_min", "primary_line_credit_min"):
        values[name] = float(
            c.get(
                t,
                "policy",
                name,
                (int, float),
                required=False,
                default=getattr(defaults, name),
                check=between(0, 240, " minutes"),
            )
        )
    values["balancer_interval_s"] = c.get(
        t, "policy", "balancer_interval_s", int, required=False, default=defaults.balancer_interval_s, check=between(5)
    )
    values["balancer_auto_apply"] = c.get(
        t, "policy", "balancer_auto_apply", bool, required=False, default=defaults.balancer_auto_apply
    )
    values["idle_windows_take_able_lines"] = c.get(
        t,
        "policy",
        "idle_windows_take_able_lines",
        bool,
        required=False,
        default=defaults.idle_windows_take_able_lines,
    )
    return PolicyConfig(**values)


def _operations(c: Checker, doc: dict) -> Operations:
    if "operations" not in doc:
        return Operations()
    t = c.table(doc["operations"], "operations")
    if t is None:
        return Operations()
    d = Operations()
    c.unknown(t, "operations", set(Operations.__dataclass_fields__))
    backup_time = c.get(
        t,
        "operations",
        "backup_time",
        str,
        required=False,
        check=lambda v: None if _parse_hhmm(v) else f"{v!r} is not a time (expected 'HH:MM')",
    )
    return Operations(
        backup_dir=c.get(
            t,
            "operations",
            "backup_dir",
            str,
            required=False,
            default=d.backup_dir,
            check=lambda v: None if v.strip() else "is empty (expected a folder path)",
        ),
        keep=c.get(t, "operations", "keep", int, required=False, default=d.keep, check=between(1)),
        backup_time=(_parse_hhmm(backup_time) if backup_time else None) or d.backup_time,  # checked above
        disk_warn_mb=c.get(
            t, "operations", "disk_warn_mb", int, required=False, default=d.disk_warn_mb, check=between(1)
        ),
        kiosk_max_per_minute=c.get(
            t,
            "operations",
            "kiosk_max_per_minute",
            int,
            required=False,
            default=d.kiosk_max_per_minute,
            check=between(1),
        ),
    )


def _appointments(c: Checker, doc: dict) -> AppointmentsConfig:
    if "appointments" not in doc:
        return AppointmentsConfig()
    t = c.table(doc["appointments"], "appointments")
    if t is None:
        return AppointmentsConfig()
    d = AppointmentsConfig()
    c.unknown(t, "appointments", set(AppointmentsConfig.__dataclass_fields__))
    return AppointmentsConfig(
        early_checkin_min=c.get(
            t,
            "appointments",
            "early_checkin_min",
            int,
            required=False,
            default=d.early_checkin_min,
            check=between(0, 240, " minutes"),
        ),
        late_checkin_min=c.get(
            t,
            "appointments",
            "late_checkin_min",
            int,
            required=False,
            default=d.late_checkin_min,
            check=between(0, 240, " minutes"),
        ),
    )


def _kiosk_settings(c: Checker, doc: dict) -> KioskSettings:
    if "kiosk" not in doc:
        return KioskSettings()
    t = c.table(doc["kiosk"], "kiosk")
    if t is None:
        return KioskSettings()
    d = KioskSettings()
    c.unknown(t, "kiosk", set(KioskSettings.__dataclass_fields__))
    return KioskSettings(
        # 50 to 100: below 50 is no rule of age a hall applies, and a typo such as 6 would make
        # nearly every card green.
        green_channel_min_age=c.get(
            t, "kiosk", "green_channel_min_age", int, required=False, check=between(50, 100, " years")
        ),
        remember_recent_matter_days=c.get(
            t,
            "kiosk",
            "remember_recent_matter_days",
            int,
            required=False,
            default=d.remember_recent_matter_days,
            check=between(0, 366, " days"),
        ),
    )


def _kiosks(c: Checker, doc: dict, printer_ids: set[str]) -> list[Kiosk]:
    out = []
    entries = c.entries(doc, "", "kiosks")
    for path, t in entries:
        c.unknown(t, path, {"id", "name", "printer", "location", "idcard"})
        out.append(
            Kiosk(
                id=c.get(
                    t,
                    path,
                    "id",
                    str,
                    default="",
                    check=lambda v: (
                        None if _ID_RE.match(v) else f"{v!r} is not an id (expected lower-case letters, digits and '-')"
                    ),
                ),
                name=c.text(t, path, "name"),
                printer=c.get(
                    t,
                    path,
                    "printer",
                    str,
                    required=False,
                    check=lambda v: (
                        None if v in printer_ids else f"{v!r} is not a printer (expected one of the [[printers]] ids)"
                    ),
                ),
                location=c.text(t, path, "location", required=False),
                idcard=c.get(
                    t,
                    path,
                    "idcard",
                    str,
                    required=False,
                    expect='an ID-card reader URL such as "serial:///dev/ttyUSB1?baudrate=115200"',
                    check=check_reader_url,
                ),
            )
        )
    c.unique([(f"{p}.id", k.id or None) for (p, _), k in zip(entries, out)], "kiosk id")
    # One port, one reader, one kiosk: two workers on one port would read each other's answers.
    c.unique(
        [(f"{p}.idcard", k.idcard) for (p, _), k in zip(entries, out) if k.idcard and k.idcard[:6] != "dummy:"],
        "ID-card reader URL",
    )
    return out


def _devices(
    c: Checker, doc: dict, key: str, parse: Callable[[dict, str], tuple[Any, list[str]]]
) -> tuple[list[Any], set[str]]:
    """Device tables are parsed by their own packages' config modules, once: the hall keeps the typed
    settings for the devices process. Also returns the ids as written, for the tables that name them."""
    out = []
    entries = c.entries(doc, "", key)
    for path, t in entries:
        spec, problems = parse(t, path)
        c.problems.extend(problems)
        if spec is not None:
            out.append(spec)
    c.unique([(f"{p}.id", t.get("id")) for p, t in entries], f"{key[:-1]} id")
    return out, {t["id"] for _, t in entries if isinstance(t.get("id"), str)}


def _district_windows(c: Checker, doc: dict) -> list[DistrictWindow]:
    out = []
    for path, t in c.entries(doc, "", "district_windows"):
        c.unknown(t, path, {"hall", "address", "window", "phone", "hours"})
        out.append(DistrictWindow(*(c.text(t, path, k) for k in ("hall", "address", "window", "phone", "hours"))))
    return out


def _cases(c: Checker, doc: dict, source: str) -> CasesConfig:
    """``[cases]``: holiday files are relative to the hall file; without the key, every
    ``holidays-*.toml`` beside the hall file is used (``holidays = []`` means weekends only)."""
    from .queue.workdays import WEEKENDS_ONLY, CalendarError, load_calendar

    table = c.table(doc["cases"], "cases") if "cases" in doc else {}
    if table is None:
        return CasesConfig(calendar=WEEKENDS_ONLY)
    c.unknown(table, "cases", {"retention_days", "near_due_days", "holidays"})
    defaults = CasesConfig()
    retention = c.get(
        table,
        "cases",
        "retention_days",
        int,
        required=False,
        default=defaults.retention_days,
        check=between(1, 3650, " days"),
    )
    near = c.get(
        table,
        "cases",
        "near_due_days",
        int,
        required=False,
        default=defaults.near_due_days,
        check=between(0, 30, " working days"),
    )
    base = Path(source).parent if Path(source).is_file() else Path.cwd()
    if "holidays" in table:
        names = c.strings(table, "cases", "holidays")
        paths = [base / name for name in names]
        for i, path in enumerate(paths):
            if not path.is_file():
                c.problem(
                    f"cases.holidays[{i}]",
                    f"{names[i]!r}: no such file next to the hall file "
                    f"(expected a holiday calendar such as 'holidays-cn-2026.toml')",
                )
        paths = [p for p in paths if p.is_file()]
    else:
        paths = sorted(base.glob("holidays-*.toml")) if Path(source).is_file() else []
    try:
        calendar = load_calendar(paths)
    except CalendarError as exc:
        for problem in exc.problems:
            c.problem("cases.holidays", problem)
        calendar = WEEKENDS_ONLY
    return CasesConfig(
        retention_days=retention, near_due_days=near, holidays=tuple(str(p.resolve()) for p in paths), calendar=calendar
    )


def parse_hall_config(doc: dict, source: str = "config") -> HallConfig:
    """Check a parsed TOML document; raise ConfigError listing every problem."""
    c = Checker()
    c.unknown(
        doc,
        "(top level)",
        {
            "hall",
            "departments",
            "matters",
            "lines",
            "windows",
            "policy",
            "kiosks",
            "operations",
            "printers",
            "buses",
            "district_windows",
            "cases",
            "search",
            "appointments",
            "kiosk",
        },
    )
    hall = _hall(c, doc)
    departments = _departments(c, doc)
    matters = _matters(c, doc, {d.code for d in departments})
    lines = _lines(c, doc, {m.code for m in matters})
    windows = _windows(c, doc, {line.prefix for line in lines if line.prefix})
    if not lines:
        c.problem("lines", "is empty (expected at least one [[lines]] table)")
    if not windows:
        c.problem("windows", "is empty (expected at least one [[windows]] table)")
    policy = _policy(c, doc)
    printers, printer_ids = _devices(c, doc, "printers", parse_printer_config)
    kiosks = _kiosks(c, doc, printer_ids)
    # A window's reader may not share a port with a kiosk's either (kiosks among themselves: _kiosks).
    window_ports = {w.idcard for w in windows if w.idcard and w.idcard[:6] != "dummy:"}
    for i, kiosk in enumerate(kiosks):
        if kiosk.idcard in window_ports:
            c.problem(f"kiosks[{i}].idcard", "duplicate ID-card reader URL (a window's reader has it too)")
    c.unique(
        [(f"windows[{i}].idcard", w.idcard) for i, w in enumerate(windows) if w.idcard and w.idcard[:6] != "dummy:"],
        "ID-card reader URL",
    )
    buses, _ = _devices(c, doc, "buses", parse_bus_config)
    district = _district_windows(c, doc)
    cases = _cases(c, doc, source)
    operations = _operations(c, doc)
    search = _search(c, doc)
    appointments = _appointments(c, doc)
    kiosk_settings = _kiosk_settings(c, doc)
    if c.problems:
        raise ConfigError(c.problems, source)
    assert hall is not None
    return HallConfig(
        hall=hall,
        departments=tuple(departments),
        matters=tuple(matters),
        lines=tuple(lines),
        windows=tuple(windows),
        policy=policy,
        kiosks=tuple(kiosks),
        printers=tuple(printers),
        buses=tuple(buses),
        district_windows=tuple(district),
        operations=operations,
        cases=cases,
        search=search,
        appointments=appointments,
        kiosk=kiosk_settings,
        source=source,
    )


def load_hall_config(path: str | Path) -> HallConfig:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"(file): cannot read {path} ({exc.strerror})"], str(path)) from exc
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError([f"(file): not UTF-8 at byte {exc.start} (expected a UTF-8 TOML file)"], str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"(file): not valid TOML: {exc}"], str(path)) from exc
    return parse_hall_config(doc, str(path))
