"""Hall files (docs/config.md): the shipped halls load, and every kind of bad file is answered with
the path of each problem, all of them at once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests._toml import dumps
from tests.conftest import small_hall_doc
from tongban.config import ConfigError, load_hall_config, parse_hall_config

CONFIG = Path(__file__).resolve().parent.parent / "config"


# ---------- the shipped halls ----------


def test_demo_hall_loads_with_58_matters_per_department():
    cfg = load_hall_config(CONFIG / "demo-hall.toml")
    assert cfg.hall.id == "demo-hall"
    assert len(cfg.matters) == 58
    assert Counter(m.department for m in cfg.matters) == {
        "scjg": 23,
        "rsj": 16,
        "sfj": 4,
        "zrzy": 3,
        "wjw": 2,
        "zwfw": 1,
        "ybj": 1,
        "yjj": 1,
        "swj": 1,
        "gjj": 3,
        "yz": 3,
    }
    # Every matter is reachable from exactly one line, so the kiosk can issue a ticket for it.
    in_lines = Counter(code for line in cfg.lines for code in line.matters)
    assert set(in_lines) == {m.code for m in cfg.matters}
    assert set(in_lines.values()) == {1}


@pytest.mark.parametrize("name", ["demo-hall.toml", "street-hall.toml"])
def test_every_line_can_be_served_by_two_windows(name):
    cfg = load_hall_config(CONFIG / name)
    assert cfg.lines
    for line in cfg.lines:
        able = [w.number for w in cfg.windows if line.prefix in w.able]
        assert len(able) >= 2, f"{name}: line {line.prefix} can only be served by windows {able}"
    for window in cfg.windows:
        assert set(window.serving) <= set(window.able)


def test_street_hall_loads():
    cfg = load_hall_config(CONFIG / "street-hall.toml")
    assert cfg.hall.id == "street-hall"
    assert [line.prefix for line in cfg.lines] == ["A"]
    assert cfg.line("A").daily_quota == 120
    assert cfg.hall.hours["sat"] == () and cfg.hall.hours["sun"] == ()
    # Matter codes are shared with the district hall: a code in both files names the same matter.
    demo = {m.code: m.name_zh for m in load_hall_config(CONFIG / "demo-hall.toml").matters}
    shared = [m for m in cfg.matters if m.code in demo]
    assert len(shared) >= 4
    for matter in shared:
        assert demo[matter.code] == matter.name_zh


def test_small_hall_round_trips_through_a_toml_file(tmp_path):
    # The writer used below for bad files produces a file the loader accepts when nothing is wrong.
    path = tmp_path / "hall.toml"
    path.write_text(dumps(small_hall_doc()), encoding="utf-8")
    cfg = load_hall_config(path)
    assert cfg.line("B").daily_quota == 5
    assert str(cfg.hall.hours["mon"][1]) == "14:00-17:30"


# ---------- bad files ----------


def problems_of(doc: dict, tmp_path: Path) -> list[str]:
    """Write the document as a TOML file, load it, and return what the checker says is wrong."""
    path = tmp_path / "bad.toml"
    path.write_text(dumps(doc), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_hall_config(path)
    assert info.value.problems, "a ConfigError must list at least one problem"
    # The same document as a dict gives the same answer (the CLI and the app share the checker).
    with pytest.raises(ConfigError) as again:
        parse_hall_config(doc)
    assert again.value.problems == info.value.problems
    return info.value.problems


def assert_reported(problems: list[str], prefix: str, *words: str) -> None:
    hits = [p for p in problems if p.startswith(prefix + ":")]
    assert hits, f"no problem at {prefix!r}; got {problems}"
    for word in words:
        assert any(word in p for p in hits), f"{prefix}: expected {word!r} in {hits}"


def _unknown_top(doc):
    doc["hal"] = {"id": "x"}


def _unknown_hall_key(doc):
    doc["hall"]["late_return_behnd"] = 2


def _unknown_day(doc):
    doc["hall"]["hours"]["monday"] = ["08:30-12:00"]


def _unknown_line_key(doc):
    doc["lines"][1]["quota"] = 5


def _duplicate_matter(doc):
    doc["matters"][2]["code"] = "M1"
    doc["lines"][1]["matters"] = ["M2"]
    doc["lines"][0]["matters"] = ["M1"]


def _duplicate_prefix(doc):
    doc["lines"][1]["prefix"] = "A"


def _able_unknown_line(doc):
    doc["windows"][1]["able"] = ["A", "B", "Z"]


def _serving_not_able(doc):
    doc["windows"][0]["able"] = ["A"]
    doc["windows"][0]["serving"] = ["A", "B"]


def _line_without_window(doc):
    doc["matters"].append({**doc["matters"][0], "code": "M4"})
    doc["lines"].append({"prefix": "C", "name_zh": "其他", "name_en": "Other", "matters": ["M4"]})


def _matter_in_no_line(doc):
    doc["lines"][0]["matters"] = ["M1"]


def _matter_in_two_lines(doc):
    doc["lines"][1]["matters"] = ["M3", "M1"]


def _overlapping_hours(doc):
    doc["hall"]["hours"]["mon"] = ["08:30-12:00", "11:30-17:30"]


def _period_backwards(doc):
    doc["hall"]["hours"]["tue"] = ["12:00-08:30"]


def _bad_period_text(doc):
    doc["hall"]["hours"]["wed"] = ["8:30-12:00"]


def _bad_timezone(doc):
    doc["hall"]["timezone"] = "Asia/Shanghia"


def _string_for_number(doc):
    doc["lines"][0]["number_width"] = "3"


def _bad_mode(doc):
    doc["matters"][1]["mode"] = "online"


def _bad_last_issue(doc):
    doc["lines"][0]["last_issue"] = "25:00"


def _bad_last_issue_format(doc):
    doc["lines"][0]["last_issue"] = "4pm"


def _bool_for_int(doc):
    doc["windows"][1]["number"] = True


def _bool_for_quota(doc):
    doc["lines"][1]["daily_quota"] = True


def _bool_for_credit(doc):
    doc["policy"] = {"green_credit_min": True}


def _string_for_idle_take(doc):
    doc["policy"] = {"idle_windows_take_able_lines": "yes"}


def _zero_quota(doc):
    doc["lines"][1]["daily_quota"] = 0


def _width_out_of_range(doc):
    doc["lines"][0]["number_width"] = 5


def _duplicate_window(doc):
    doc["windows"][1]["number"] = 1


def _unknown_department(doc):
    doc["matters"][2]["department"] = "gjjj"


def _missing_name(doc):
    del doc["hall"]["name_zh"]


def _array_for_printer_id(doc):
    doc["printers"] = [{"id": ["p"], "url": "dummy://"}, {"id": ["p"], "url": "dummy://"}]


def _lower_case_prefix(doc):
    doc["lines"][1]["prefix"] = "b"
    doc["windows"][0]["able"] = ["A", "b"]
    doc["windows"][1]["able"] = ["A", "b"]
    doc["windows"][1]["serving"] = ["b", "A"]


BAD_FILES = [
    (_unknown_top, "(top level).hal", "unknown key"),
    (_unknown_hall_key, "hall.late_return_behnd", "unknown key"),
    (_unknown_day, "hall.hours.monday", "unknown key"),
    (_unknown_line_key, "lines[1].quota", "unknown key"),
    (_duplicate_matter, "matters[2].code", "duplicate matter code"),
    (_duplicate_prefix, "lines[1].prefix", "duplicate line prefix"),
    (_able_unknown_line, "windows[1].able[2]", "'Z' is not a line"),
    (_serving_not_able, "windows[0].serving[1]", "not in able"),
    (_line_without_window, "windows", "line 'C' has no window"),
    (_matter_in_no_line, "lines", "matter 'M2' is in no line"),
    (_matter_in_two_lines, "lines[1].matters[1]", "'M1' is already in lines[0]"),
    (_overlapping_hours, "hall.hours.mon[1]", "overlaps"),
    (_period_backwards, "hall.hours.tue[0]", "ends before it starts"),
    (_bad_period_text, "hall.hours.wed[0]", "is not a period"),
    (_bad_timezone, "hall.timezone", "not a known time zone"),
    (_string_for_number, "lines[0].number_width", "is a string"),
    (_bad_mode, "matters[1].mode", "is not a mode"),
    (_bad_last_issue, "lines[0].last_issue", "is not a time"),
    (_bad_last_issue_format, "lines[0].last_issue", "is not a time"),
    (_bool_for_int, "windows[1].number", "is a boolean"),
    (_bool_for_quota, "lines[1].daily_quota", "is a boolean"),
    (_bool_for_credit, "policy.green_credit_min", "is a boolean"),
    (_string_for_idle_take, "policy.idle_windows_take_able_lines", "is a string"),
    (_zero_quota, "lines[1].daily_quota", "expected 1 or more"),
    (_width_out_of_range, "lines[0].number_width", "expected 2 to 4"),
    (_duplicate_window, "windows[1].number", "duplicate window number"),
    (_unknown_department, "matters[2].department", "is not a department"),
    (_missing_name, "hall.name_zh", "is missing"),
    (_lower_case_prefix, "lines[1].prefix", "is not a prefix"),
    (_array_for_printer_id, "printers[1].id", 'is an array (expected a short id such as "kiosk-1")'),
]


@pytest.mark.parametrize("spoil, prefix, words", BAD_FILES, ids=[f.__name__.strip("_") for f, _, _ in BAD_FILES])
def test_bad_file_names_the_field(spoil, prefix, words, tmp_path):
    doc = small_hall_doc()
    spoil(doc)
    assert_reported(problems_of(doc, tmp_path), prefix, words)


def test_invalid_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[hall]\nid = "x"\nname_zh = "未闭合\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_hall_config(path)
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith("(file): not valid TOML")


def test_file_not_utf8(tmp_path):
    path = tmp_path / "gbk.toml"
    path.write_bytes(dumps(small_hall_doc()).encode("gbk"))
    with pytest.raises(ConfigError) as info:
        load_hall_config(path)
    assert info.value.problems[0].startswith("(file): not UTF-8")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_hall_config(tmp_path / "nope.toml")
    assert info.value.problems[0].startswith("(file): cannot read")


def test_every_problem_is_reported_not_just_the_first(tmp_path):
    doc = small_hall_doc()
    _unknown_hall_key(doc)
    _bad_timezone(doc)
    _overlapping_hours(doc)
    _bad_mode(doc)
    _string_for_number(doc)
    _bool_for_quota(doc)
    _serving_not_able(doc)
    doc["policy"] = {"green_credit_min": 300}
    problems = problems_of(doc, tmp_path)
    expected = [
        "hall.late_return_behnd",
        "hall.timezone",
        "hall.hours.mon[1]",
        "matters[1].mode",
        "lines[0].number_width",
        "lines[1].daily_quota",
        "windows[0].serving[1]",
        "policy.green_credit_min",
    ]
    for prefix in expected:
        assert_reported(problems, prefix)
    assert len(problems) == len(expected), problems
    # The exception's text, what `tongban check-config` prints, carries every line too.
    with pytest.raises(ConfigError) as info:
        parse_hall_config(doc, "bad.toml")
    text = str(info.value)
    assert text.startswith(f"bad.toml: {len(expected)} problem(s)")
    for problem in problems:
        assert problem in text


def test_problems_say_what_was_expected(tmp_path):
    doc = small_hall_doc()
    for spoil, _, _ in BAD_FILES:
        if spoil not in (_duplicate_matter, _duplicate_prefix, _duplicate_window):
            spoil(doc)
    problems = problems_of(doc, tmp_path)
    assert len(problems) >= 20
    for problem in problems:
        path, _, message = problem.partition(": ")
        assert path and message, problem
        assert "expected" in message, f"problem does not say what was expected: {problem}"
