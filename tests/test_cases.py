"""Case domain (docs/cases.md): validators, the state machine, due dates and the daily flags on the 2026
calendar with a fake clock, the retention purge, the day report's counts and the consoles' list."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import SHANGHAI
from tongban.config import CasesConfig
from tongban.queue import cases as domain
from tongban.queue.cases import CaseService
from tongban.queue.workdays import load_calendar
from tongban.web.errors import status_for

CN_2026 = Path(__file__).resolve().parent.parent / "config" / "holidays-cn-2026.toml"


def valid_id(first17: str) -> str:
    return first17 + domain.id_check_digit(first17)


ID = valid_id("33010619900307123")
PHONE = "13812345678"
APPLICANT = {"applicant_name": "张三", "id_number": ID, "phone": PHONE, "address": "杭州市西湖区文三路 100 号"}
ALL_MATERIALS_M3 = {"material_0": "on", "copies_0": "1", "material_1": "on", "copies_1": "1"}
CHECK_OK = {"identity_method": "card_reader", "identity_ok": "yes", "review_outcome": "pass"}
SEND = {
    "province": "44",
    "handling_dept": "广州住房公积金管理中心",
    "handling_address": "广州市越秀区",
    "send_channel": "ems",
    "waybill_out": "EA123456785CN",
}


# ---------- validators ----------


@pytest.mark.parametrize(
    "text, ok",
    [
        (ID, True),
        (ID.lower(), True),  # a lower-case x is accepted (and stored upper-case)
        (f" {ID[:6]} {ID[6:]} ", True),  # spaces dropped
        ("11010519491231002X", True),  # the GB 11643 example, check character X
        ("11010519491231002x", True),
        ("110105194912310021", False),  # wrong check character
        ("11010519491331002X", False),  # month 13 (check digit recomputed below)
        ("99010519491231002X", False),  # no province 99
        ("1101051949123100", False),  # 16 characters
        ("110105194912310A2X", False),  # a letter inside
        ("", False),
    ],
)
def test_id_numbers(text, ok):
    if text == "11010519491331002X":
        text = valid_id("11010519491331002")  # valid check, impossible date
    value, problem = domain.check_id_number(text, date(2026, 11, 26))
    assert (value is not None) is ok, problem
    if ok:
        assert len(value) == 18 and value == value.upper()


def test_id_number_born_in_the_future_is_refused():
    _value, problem = domain.check_id_number(valid_id("33010620300101123"), date(2026, 11, 26))
    assert problem.en.endswith("not a plausible birth date")


def test_id_regions_include_hong_kong_macao_taiwan_permits():
    assert domain.check_id_number(valid_id("81000019900101123"), date(2026, 1, 1))[0]
    assert domain.check_id_number(valid_id("83000019900101123"), date(2026, 1, 1))[0]


@pytest.mark.parametrize(
    "text, value",
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("+86 138-1234-5678", "13812345678"),
        ("19912345678", "19912345678"),
        ("12812345678", None),
        ("1381234567", None),
        ("23812345678", None),
        ("0571-88880000", None),
        ("", None),
    ],
)
def test_mobile_phones(text, value):
    assert domain.check_phone(text)[0] == value


@pytest.mark.parametrize(
    "text, value",
    [
        ("EA123456785CN", "EA123456785CN"),  # UPU S10 example: check digit 5
        ("ea 123456785 cn", "EA123456785CN"),
        ("EA123456784CN", None),  # wrong check digit
        ("1012345678901", "1012345678901"),  # 13 digits (domestic EMS)
        ("101234567890", None),
        ("EA12345678CN", None),
        ("E1123456785CN", None),
        ("", None),
    ],
)
def test_waybills(text, value):
    assert domain.check_waybill(text)[0] == value


def test_s10_check_digit_special_cases():
    # 11 - (sum mod 11): 10 becomes 0 and 11 becomes 5.
    assert domain.s10_check_digit("12345678") == 5
    for serial in ("00000000", "00000001", "47312482"):
        total = sum(int(d) * w for d, w in zip(serial, (8, 6, 4, 2, 3, 5, 9, 7)))
        expected = {10: 0, 11: 5}.get(11 - total % 11, 11 - total % 11)
        assert domain.s10_check_digit(serial) == expected


def test_masks():
    assert domain.mask_id("330106199003071234") == "3301**********1234"
    assert domain.mask_phone("13812345678") == "138****5678"
    assert domain.mask_name("欧阳娜娜") == "欧***"
    assert domain.mask_id(None) == domain.mask_phone(None) == domain.mask_name(None) == ""


# ---------- the service over a temp store ----------


@pytest.fixture
def calendar_2026():
    return load_calendar([CN_2026])


@pytest.fixture
def cfg(hall_config, calendar_2026):
    return replace(hall_config, cases=CasesConfig(retention_days=30, near_due_days=2, calendar=calendar_2026))


@pytest.fixture
def cases(store, cfg, clock, service):
    return CaseService(store, cfg, clock)


def at(clock, day: str, hour: int = 9) -> None:
    clock.set(datetime.fromisoformat(day).replace(hour=hour, tzinfo=SHANGHAI))


def open_case(cases, matter="M3", **form):
    return cases.open(
        ticket_id=None, matter=matter, window=2, actor="clerk2", form={**APPLICANT, **ALL_MATERIALS_M3, **form}
    )


def test_illegal_steps_are_refused_with_named_errors(cases):
    case = open_case(cases)
    with pytest.raises(domain.IllegalCaseStep) as info:
        cases.act(case.id, "send", actor="clerk2", window=2, form=SEND)
    assert info.value.code == "illegal_case_step" and status_for(info.value) == 409
    assert "不能寄出" in info.value.message_zh and "cannot send" in info.value.message_en
    for action in ("result", "deliver", "supplement"):
        with pytest.raises(domain.IllegalCaseStep):
            cases.act(case.id, action, actor="clerk2", window=2, form={})
    with pytest.raises(domain.IllegalCaseStep):
        cases.act(case.id, "fly", actor="clerk2", window=2, form={})
    with pytest.raises(domain.UnknownCase):
        cases.act(999, "check", actor="clerk2", window=2, form={})
    assert domain.get(cases.store, case.id).state == "received"


def test_check_pass_needs_every_material(cases):
    case = open_case(cases, material_1="")
    with pytest.raises(domain.InvalidInput) as info:
        cases.act(case.id, "check", actor="clerk2", window=2, form={**CHECK_OK, "material_0": "on"})
    assert "review_outcome" in info.value.problems and "退休证" in info.value.problems["review_outcome"][0]


def test_failed_identity_keeps_the_case_received(cases):
    case = open_case(cases)
    case = cases.act(
        case.id, "check", actor="clerk2", window=2, form={**CHECK_OK, **ALL_MATERIALS_M3, "identity_ok": "no"}
    )
    assert case.state == "received" and case.identity_ok == 0
    case = cases.act(case.id, "withdraw", actor="clerk2", window=2, form={"withdrawn_reason": "identity"})
    assert case.state == "withdrawn" and case.closed_day == "2026-11-26"


def test_events_and_the_access_log_are_append_only(cases, store):
    case = open_case(cases)
    domain.log_access(store, [case.id], "view", "clerk2", cases.clock.now())
    for table in ("case_events", "case_access_log"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store.conn.execute(f"UPDATE {table} SET actor = 'x'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store.conn.execute(f"DELETE FROM {table}")


def test_a_ticket_opens_one_live_case(cases, service, clock):
    service.window_action(2, "open", clerk="clerk2")
    t = service.take_ticket(matter="M3").ticket
    with pytest.raises(domain.TicketNotServed):
        cases.open(ticket_id=t.id, matter=None, window=2, actor="clerk2", form=APPLICANT)
    service.call_next(2, clerk="clerk2")
    service.act(t.id, "start", window=2, actor="clerk2")
    case = cases.open(ticket_id=t.id, matter=None, window=None, actor="clerk2", form={**APPLICANT, **ALL_MATERIALS_M3})
    assert (case.matter, case.window, case.ticket_id, case.mode) == ("M3", 2, t.id, "proxy")
    assert domain.case_for_ticket(cases.store, t.id).id == case.id
    with pytest.raises(domain.CaseExists):
        cases.open(ticket_id=t.id, matter=None, window=2, actor="clerk2", form=APPLICANT)
    cases.act(case.id, "withdraw", actor="clerk2", window=2, form={"withdrawn_reason": "applicant"})
    again = cases.open(ticket_id=t.id, matter=None, window=2, actor="clerk2", form=APPLICANT)
    assert again.number == "KS-20261126-002"


def test_on_site_matters_open_no_case(cases):
    with pytest.raises(domain.NotACaseMatter):
        open_case(cases, matter="M1")


# ---------- due dates and the daily flags on the 2026 calendar ----------


def test_due_day_across_a_weekend(cases, clock):
    at(clock, "2026-11-27")  # Friday; M3 has 3 working days
    assert open_case(cases).due_day == "2026-12-02"


def test_due_day_across_national_day_ending_on_the_working_saturday(cases, clock):
    at(clock, "2026-09-30")
    case = open_case(cases)
    assert case.due_day == "2026-10-10" and case.due_flag is None


def _flags_day_by_day(cases, clock, case_id, first: str, last: str) -> dict[str, str | None]:
    out = {}
    day = date.fromisoformat(first)
    while day <= date.fromisoformat(last):
        at(clock, day.isoformat(), hour=0)
        clock.advance(minutes=10)  # the devices process runs the job at 00:10
        cases.daily()
        out[day.isoformat()] = domain.get(cases.store, case_id).due_flag
        day += timedelta(days=1)
    return out


def test_daily_flags_across_a_holiday_and_an_adjusted_working_saturday(cases, clock):
    at(clock, "2026-09-30")
    case = open_case(cases)  # due Saturday 10 October (调休上班)
    flags = _flags_day_by_day(cases, clock, case.id, "2026-10-01", "2026-10-13")
    assert flags == {
        **{f"2026-10-0{d}": None for d in range(1, 8)},  # the holiday: still 3 working days left
        "2026-10-08": "near",  # Thu: 2 working days left (Fri, Sat)
        "2026-10-09": "near",
        "2026-10-10": "near",  # due today
        "2026-10-11": "overdue",  # Sunday after the due day
        "2026-10-12": "overdue",
        "2026-10-13": "overdue",
    }
    evts = [e for e in domain.events(cases.store, case.id) if e["action"] == "flag"]
    assert [(e["day"], e["data"]["flag"], e["actor"]) for e in evts] == [
        ("2026-10-08", "near", "system"),
        ("2026-10-11", "overdue", "system"),
    ]
    at(clock, "2026-10-13", hour=10)
    flagged = domain.flagged(cases.store, clock.now())
    assert [(f["number"], f["flag"], f["days_late"]) for f in flagged] == [(case.number, "overdue", 3)]


def test_daily_flags_across_a_weekend(cases, clock):
    at(clock, "2026-11-27")  # Friday, due Wednesday 2 December
    case = open_case(cases)
    flags = _flags_day_by_day(cases, clock, case.id, "2026-11-28", "2026-12-03")
    assert flags == {
        "2026-11-28": None,
        "2026-11-29": None,  # Sat, Sun: Mon, Tue, Wed still ahead
        "2026-11-30": "near",
        "2026-12-01": "near",
        "2026-12-02": "near",
        "2026-12-03": "overdue",
    }


def test_the_job_runs_once_a_day_and_catches_up_after_a_power_cut(cases, clock, store):
    at(clock, "2026-09-30")
    case = open_case(cases)
    at(clock, "2026-10-12", hour=8)  # the box was off since the 30th
    first = cases.daily()
    assert first["overdue"] == 1 and domain.get(store, case.id).due_flag == "overdue"
    assert cases.daily() == first  # same day: nothing twice
    assert store.one("SELECT COUNT(*) FROM job_runs WHERE job = 'cases'")[0] == 1
    assert len([e for e in domain.events(store, case.id) if e["action"] == "flag"]) == 1


def test_flags_stop_when_the_case_is_handled_and_the_clock_restarts_after_a_supplement(cases, clock, store):
    at(clock, "2026-11-26")
    case = open_case(cases)  # due Tue 1 December
    cases.act(case.id, "check", actor="clerk2", window=2, form={**CHECK_OK, **ALL_MATERIALS_M3})
    cases.act(case.id, "send", actor="clerk2", window=2, form=SEND)
    at(clock, "2026-12-02")
    cases.daily()
    assert [f["id"] for f in domain.flagged(store, clock.now())] == [case.id]
    case = cases.act(
        case.id,
        "result",
        actor="clerk2",
        window=2,
        form={"result": "more_materials", "return_channel": "online", "result_note": "缺证明"},
    )
    assert case.state == "needs_materials" and case.due_flag is None
    assert domain.flagged(store, clock.now()) == []  # paused while the applicant gathers materials
    at(clock, "2026-12-04")  # Friday: the supplement arrives
    case = cases.act(case.id, "supplement", actor="clerk2", window=2, form=ALL_MATERIALS_M3)
    assert (case.clock_from, case.due_day) == ("2026-12-04", "2026-12-09")


def test_zero_day_limit_is_due_on_the_day(cases, clock, cfg):
    matter = replace(cfg.matter("M3"), time_limit_days=0)
    cases.config = replace(cfg, matters=tuple(matter if m.code == "M3" else m for m in cfg.matters))
    case = open_case(cases)
    assert case.due_day == "2026-11-26" and case.due_flag == "near"


# ---------- retention ----------


def test_retention_purges_personal_fields_and_keeps_the_rest(cases, clock, store):
    at(clock, "2026-11-02")
    case = open_case(cases)
    cases.act(
        case.id, "check", actor="clerk2", window=2, form={**CHECK_OK, **ALL_MATERIALS_M3, "review_note": "原件已核"}
    )
    cases.act(case.id, "send", actor="clerk2", window=2, form=SEND)
    cases.act(case.id, "result", actor="clerk2", window=2, form={"result": "approved", "return_channel": "online"})
    cases.act(
        case.id,
        "deliver",
        actor="clerk2",
        window=2,
        form={"delivery_channel": "mail", "delivery_waybill": "1012345678901"},
    )
    at(clock, "2026-12-01")  # 29 days after delivery: kept
    assert cases.daily()["purged"] == 0
    at(clock, "2026-12-02")  # 30 days: purged
    assert cases.daily()["purged"] == 1
    row = domain.get(store, case.id)
    for field in domain.PERSONAL_FIELDS:
        assert getattr(row, field) is None, field
    assert row.purged_at and row.state == "delivered" and row.matter == "M3" and row.waybill_out == "EA123456785CN"
    assert row.due_day and row.opened_day == "2026-11-02" and row.result == "approved"
    dump = "\n".join(" ".join(map(str, r)) for r in store.conn.iterdump())
    assert ID not in dump and PHONE not in dump and "文三路" not in dump and "原件已核" not in dump
    with pytest.raises(domain.IllegalCaseStep):  # closed cases are not edited, purged or not
        cases.act(case.id, "edit", actor="clerk2", window=2, form=APPLICANT)
    assert domain.events(store, case.id)[-1]["action"] == "purge"
    # Counted still: the day report of the delivery day does not change.
    assert domain.case_counts(store, "2026-11-02")["delivered"] == 1


def test_open_cases_are_never_purged(cases, clock, store):
    at(clock, "2026-01-05")
    case = open_case(cases)
    at(clock, "2026-12-31")
    cases.daily()
    assert domain.get(store, case.id).id_number == ID


# ---------- the day report and the consoles ----------


def test_case_counts_for_the_day_report(cases, clock, store):
    at(clock, "2026-11-26")
    a = open_case(cases)  # due 1 December
    b = open_case(cases)
    c = open_case(cases, matter="M2", material_0="on")
    for case in (a, b):
        cases.act(case.id, "check", actor="clerk2", window=2, form={**CHECK_OK, **ALL_MATERIALS_M3})
    cases.act(a.id, "send", actor="clerk2", window=2, form=SEND)
    at(clock, "2026-11-27")
    cases.act(b.id, "send", actor="clerk2", window=2, form=SEND)
    cases.act(a.id, "result", actor="clerk2", window=2, form={"result": "approved", "return_channel": "online"})
    cases.act(a.id, "deliver", actor="clerk2", window=2, form={"delivery_channel": "window"})
    cases.act(c.id, "withdraw", actor="clerk2", window=2, form={"withdrawn_reason": "applicant"})
    at(clock, "2026-12-03")
    assert domain.case_counts(store, "2026-11-26") == {"opened": 3, "sent": 1, "delivered": 0, "overdue": 0}
    assert domain.case_counts(store, "2026-11-27") == {"opened": 0, "sent": 1, "delivered": 1, "overdue": 0}
    assert domain.case_counts(store, "2026-12-01") == {"opened": 0, "sent": 0, "delivered": 0, "overdue": 0}
    # b is due 1 December and still out: overdue at the end of the 2nd and the 3rd.
    assert domain.case_counts(store, "2026-12-02")["overdue"] == 1
    cases.act(b.id, "result", actor="clerk2", window=2, form={"result": "approved", "return_channel": "online"})
    assert domain.case_counts(store, "2026-12-02")["overdue"] == 1  # history does not change
    assert domain.case_counts(store, "2026-12-03")["overdue"] == 0  # handled that day


def test_flagged_lists_the_most_urgent_first_without_waiting_for_the_job(cases, clock, store, cfg):
    cases.config = replace(cfg, cases=replace(cfg.cases, near_due_days=3))
    at(clock, "2026-11-20")
    late = open_case(cases)  # due 25 November
    at(clock, "2026-11-26")
    soon = open_case(cases, matter="M2", material_0="on")  # 15 days: not near
    fresh = open_case(cases)  # due 1 December: 3 working days, near at opening
    assert fresh.due_flag == "near" and soon.due_flag is None
    got = domain.flagged(store, clock.now())
    assert [(f["id"], f["flag"]) for f in got] == [(late.id, "overdue"), (fresh.id, "near")]
    assert got[0]["matter_zh"] == "正常退休提取住房公积金" and got[0]["days_late"] == 1


# ---------- state machine ----------

from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule  # noqa: E402

FORMS = {
    "check": [
        {**CHECK_OK, **ALL_MATERIALS_M3},
        {**CHECK_OK, "review_outcome": "incomplete", "material_0": "on"},
        {**CHECK_OK, **ALL_MATERIALS_M3, "identity_ok": "no"},
    ],
    "send": [SEND],
    "result": [
        {"result": "approved", "return_channel": "online"},
        {"result": "refused", "return_channel": "online"},
        {"result": "more_materials", "return_channel": "online", "result_note": "缺"},
    ],
    "supplement": [ALL_MATERIALS_M3],
    "deliver": [{"delivery_channel": "window"}],
    "withdraw": [{"withdrawn_reason": "applicant"}],
    "edit": [{**APPLICANT, "phone": "13900000000"}],
}
# Where each step may go from where (the states), independent of the service's own table.
MODEL = {
    ("received", "check"): {"checked", "needs_materials", "received"},
    ("checked", "send"): {"sent"},
    ("sent", "result"): {"result_received", "needs_materials"},
    ("needs_materials", "supplement"): {"received"},
    ("result_received", "deliver"): {"delivered"},
}


class CaseMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        import tempfile

        from tests.conftest import small_hall_doc
        from tongban.config import parse_hall_config
        from tongban.queue.clock import FakeClock
        from tongban.queue.store import Store

        self.tmp = tempfile.TemporaryDirectory()
        self.store = Store(Path(self.tmp.name) / "m.db")
        cfg = parse_hall_config(small_hall_doc(), "m")
        self.clock = FakeClock(datetime(2026, 11, 26, 9, tzinfo=SHANGHAI))
        self.cases = CaseService(self.store, cfg, self.clock)
        self.case = open_case(self.cases)
        self.state = "received"
        self.history = ["received"]

    def teardown(self):
        self.store.close()
        self.tmp.cleanup()

    @rule(action=st.sampled_from(sorted(FORMS)), pick=st.integers(0, 2), hours=st.integers(0, 30))
    def step(self, action, pick, hours):
        self.clock.advance(hours=hours)
        form = FORMS[action][pick % len(FORMS[action])]
        before = self.state
        allowed = (before, action) in MODEL or (action in ("withdraw", "edit") and before not in domain.FINAL_STATES)
        try:
            case = self.cases.act(self.case.id, action, actor="clerk2", window=2, form=form)
        except domain.IllegalCaseStep:
            assert not allowed, (before, action)
            return
        except domain.InvalidInput:
            assert allowed
            return
        assert allowed, (before, action)
        if action == "withdraw":
            assert case.state == "withdrawn"
        elif action == "edit":
            assert case.state == before
        else:
            assert case.state in MODEL[(before, action)]
        self.state = case.state

    @invariant()
    def events_replay_to_the_row(self):
        row = domain.get(self.store, self.case.id)
        replayed = domain.replay(domain.events(self.store, self.case.id))
        assert replayed == {"state": row.state, "due_day": row.due_day}
        assert row.state == self.state
        assert (row.closed_day is not None) == (row.state in domain.FINAL_STATES)
        if row.state not in domain.RUNNING:
            assert row.due_flag is None


TestCaseMachine = CaseMachine.TestCase
TestCaseMachine.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def test_the_devices_process_runs_the_case_job_at_start_and_daily(tmp_path, cfg, clock):
    from tongban.devices.process import DevicesProcess
    from tongban.queue.store import Store

    db = str(tmp_path / "devices.db")
    store = Store(db)
    at(clock, "2026-09-30")
    case = open_case(CaseService(store, cfg, clock))
    at(clock, "2026-10-12", hour=0)
    clock.advance(minutes=10)
    process = DevicesProcess(cfg, db, clock)
    assert process.case_daily()["overdue"] == 1
    assert process.case_daily()["overdue"] == 1  # the same day's result, not a second run
    assert domain.get(store, case.id).due_flag == "overdue"
    store.close()
