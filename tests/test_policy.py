"""The dispatch policy and the wait forecast built on it (docs/architecture.md §Dispatch, §Forecast)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import small_hall_doc
from tongban.config import PolicyConfig
from tongban.queue import errors, policy
from tongban.queue.estimates import WindowPlan, forecast
from tongban.queue.policy import WaitingTicket, WindowView

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
LINES = ("A", "B", "C")

credits = st.floats(min_value=0, max_value=60, allow_nan=False)
configs = st.builds(
    PolicyConfig,
    green_credit_min=credits,
    appointment_credit_min=credits,
    transfer_credit_min=credits,
    primary_line_credit_min=credits,
)


@st.composite
def tickets(draw, n_max=25):
    n = draw(st.integers(0, n_max))
    out = []
    for i in range(n):
        queued = T0 + timedelta(seconds=draw(st.integers(0, 4 * 3600)))
        appt = draw(st.one_of(st.none(), st.integers(-3600, 3 * 3600)))
        out.append(
            WaitingTicket(
                i + 1,
                draw(st.sampled_from(LINES)),
                queued,
                draw(st.booleans()),
                None if appt is None else T0 + timedelta(seconds=appt),
                draw(st.booleans()),
            )
        )
    return out


windows = st.lists(st.sampled_from(LINES), min_size=1, max_size=3, unique=True).map(
    lambda lines: WindowView(7, tuple(lines))
)


@settings(max_examples=150, deadline=None)
@given(tickets(), windows, configs, st.integers(4 * 3600, 6 * 3600))
def test_choose_next_is_the_smallest_order_key(waiting, window, config, later):
    now = T0 + timedelta(seconds=later)
    eligible = [t for t in waiting if t.line in window.serving]
    expected = min(eligible, key=lambda t: policy.order_key(t, window, now, config)) if eligible else None
    assert policy.choose_next(window, waiting, now, config) == expected
    # Pure: the same inputs give the same answer, whatever order the tickets come in.
    assert policy.choose_next(window, list(reversed(waiting)), now, config) == expected


@settings(max_examples=150, deadline=None)
@given(
    tickets(),
    windows,
    st.lists(st.sampled_from(LINES), max_size=3, unique=True),
    st.booleans(),
    configs,
    st.booleans(),
    st.integers(4 * 3600, 6 * 3600),
)
def test_an_idle_window_takes_the_oldest_of_its_able_lines(waiting, window, extra, pinned, config, take, later):
    """Own lines first; only when they are empty, the same order over the lines it is able to serve,
    unless it is pinned or the hall keeps idle windows to their lines."""
    config = replace(config, idle_windows_take_able_lines=take)
    window = WindowView(window.number, window.serving, window.serving + tuple(extra), pinned)
    now = T0 + timedelta(seconds=later)
    own = [t for t in waiting if t.line in window.serving]
    able = [t for t in waiting if t.line in window.able] if take and not pinned else []
    pool = own or able
    expected = min(pool, key=lambda t: policy.order_key(t, window, now, config)) if pool else None
    assert policy.choose_next(window, waiting, now, config) == expected


@settings(max_examples=150, deadline=None)
@given(tickets(), windows, configs, st.integers(4 * 3600, 6 * 3600))
def test_static_bound_nobody_queued_more_than_the_max_credit_later_goes_first(waiting, window, config, later):
    """The docstring's bound: the chosen ticket was queued at most C = max_credit minutes after any
    eligible ticket it passes."""
    now = T0 + timedelta(seconds=later)
    chosen = policy.choose_next(window, waiting, now, config)
    bound = timedelta(minutes=policy.max_credit(config))
    for t in waiting:
        if t.line in window.serving:
            assert chosen.queued_at <= t.queued_at + bound + timedelta(microseconds=1)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 120), st.sampled_from(LINES), st.booleans(), st.booleans()), min_size=1, max_size=60
    ),
    st.lists(st.integers(1, 15), min_size=1, max_size=200),
    windows,
    configs,
)
def test_dynamic_bound_a_ticket_is_passed_only_by_tickets_queued_within_c_after_it(arrivals, services, window, config):
    """A window keeps calling while tickets keep arriving (any arrivals, any credits): every ticket
    it calls before T was queued no later than C minutes after T. So T is passed by at most the
    tickets that arrive within C minutes after it, and is never passed over indefinitely."""
    pending = sorted((T0 + timedelta(minutes=m), line, green, moved) for m, line, green, moved in arrivals)
    stream = [WaitingTicket(i + 1, line, at, green, None, moved) for i, (at, line, green, moved) in enumerate(pending)]
    eligible = [t for t in stream if t.line in window.serving]
    waiting: list[WaitingTicket] = []
    now = T0
    k = 0
    calls: list[WaitingTicket] = []
    i = 0
    while len(calls) < len(eligible):
        while i < len(stream) and stream[i].queued_at <= now:
            waiting.append(stream[i])
            i += 1
        chosen = policy.choose_next(window, waiting, now, config)
        if chosen is None:
            now = stream[i].queued_at
            continue
        waiting.remove(chosen)
        calls.append(chosen)
        now += timedelta(minutes=services[k % len(services)])
        k += 1
    bound = timedelta(minutes=policy.max_credit(config))
    for pos, t in enumerate(calls):
        for earlier in calls[:pos]:
            assert earlier.queued_at <= t.queued_at + bound + timedelta(microseconds=1)
        passed_by = pos - sum(1 for u in calls[:pos] if u.queued_at <= t.queued_at)
        assert passed_by <= sum(1 for u in eligible if t.queued_at < u.queued_at <= t.queued_at + bound)


@settings(max_examples=100, deadline=None)
@given(tickets(), configs, st.integers(4 * 3600, 6 * 3600))
def test_line_order_key_sorts_like_order_key(waiting, config, later):
    now = T0 + timedelta(seconds=later)
    a = sorted(waiting, key=lambda t: policy.order_key(t, None, now, config))
    b = sorted(waiting, key=lambda t: policy.line_order_key(t, now, config))
    assert [t.id for t in a] == [t.id for t in b]


def test_credits_bounded_aging_examples():
    # Worked out for green 30 and primary line 5 (not the shipped defaults, 15 and 0: the mechanism is tested).
    cfg = PolicyConfig(green_credit_min=30.0, primary_line_credit_min=5.0)
    w = WindowView(1, ("A", "B"))
    now = T0 + timedelta(minutes=60)
    old = WaitingTicket(1, "B", T0)  # waited 60
    green = WaitingTicket(2, "B", T0 + timedelta(minutes=45), green=True)  # 15 + 30 = 45
    assert policy.choose_next(w, [old, green], now, cfg) == old
    green_sooner = WaitingTicket(3, "B", T0 + timedelta(minutes=25), green=True)  # 35 + 30 = 65
    assert policy.choose_next(w, [old, green_sooner], now, cfg) == green_sooner
    primary = WaitingTicket(4, "A", T0 + timedelta(minutes=3))  # 57 + 5 = 62
    assert policy.choose_next(w, [old, primary], now, cfg) == primary
    assert policy.choose_next(WindowView(2, ("C",)), [old, primary], now, cfg) is None


# ---------- the forecast (estimates) ----------


def plan(number, lines, free=0.0):
    return WindowPlan(WindowView(number, tuple(lines)), free)


def test_forecast_counts_people_ahead_as_the_policy_orders_them():
    cfg = PolicyConfig(green_credit_min=30.0)  # the green A4 (10 min + 30) passes A1 (30 min)
    now = T0 + timedelta(minutes=30)
    waiting = [
        WaitingTicket(1, "A", T0),
        WaitingTicket(2, "A", T0 + timedelta(minutes=1)),
        WaitingTicket(3, "B", T0 + timedelta(minutes=2)),
        WaitingTicket(4, "A", T0 + timedelta(minutes=20), green=True),
    ]  # green jumps ahead in A
    me = WaitingTicket(5, "A", T0 + timedelta(minutes=25))
    per_call = {"A": 6.0, "B": 10.0}
    # One window serving A and B: ahead of me are A1, A2, B3 (older) and the green A4.
    f = forecast(me, waiting + [me], [plan(1, "AB")], now, cfg, per_call)
    assert f.people_ahead == 4
    assert f.wait_min == 6 + 6 + 10 + 6
    # The count in my line alone would have said 3; the B ticket at the shared window counts too.
    # A second window for A, busy for 4 more minutes: it takes A1 at 4, window 1 takes A4 then A2,
    # and I am called at 10 by window 2, before B3.
    f2 = forecast(me, waiting + [me], [plan(1, "AB"), plan(2, "A", free=4.0)], now, cfg, per_call)
    assert (f2.people_ahead, f2.wait_min) == (3, 10.0)
    assert f2.estimate.low <= f2.estimate.minutes <= f2.estimate.high


def test_forecast_tickets_of_windows_that_do_not_serve_my_line_are_not_ahead_of_me():
    cfg = PolicyConfig()
    now = T0 + timedelta(minutes=30)
    waiting = [WaitingTicket(1, "B", T0), WaitingTicket(2, "B", T0)]
    me = WaitingTicket(3, "A", T0 + timedelta(minutes=10))
    f = forecast(me, waiting, [plan(1, "A"), plan(2, "B")], now, cfg, {"A": 5.0, "B": 5.0})
    assert (f.people_ahead, f.wait_min, f.estimate.minutes) == (0, 0.0, 0)
    assert forecast(me, waiting, [plan(2, "B")], now, cfg, {"A": 5.0, "B": 5.0}) is None


def test_expected_green_arrivals_lengthen_the_wait_but_are_not_people_ahead():
    cfg = PolicyConfig()
    now = T0 + timedelta(minutes=30)
    waiting = [WaitingTicket(i, "A", T0 + timedelta(minutes=i)) for i in range(1, 6)]
    me = WaitingTicket(9, "A", now)
    plain = forecast(me, waiting, [plan(1, "A")], now, cfg, {"A": 5.0})
    greens = forecast(me, waiting, [plan(1, "A")], now, cfg, {"A": 5.0}, green_per_min={"A": 0.2})
    assert plain.people_ahead == greens.people_ahead == 5
    # One green every 5 minutes from 2.5 on: those arriving before I am called pass me.
    assert greens.wait_min > plain.wait_min
    # Expected next green in 35 min: more than the green credit after me, it can never pass me.
    far = forecast(me, waiting, [plan(1, "A")], now, cfg, {"A": 5.0}, green_per_min={"A": 1 / 70})
    assert far.wait_min == plain.wait_min


def test_forecast_is_pure_and_matches_the_calls_the_policy_makes():
    """Run the policy for real on the same state with the forecast's service times: the forecast's
    people ahead and wait are exactly what happens."""
    cfg = PolicyConfig()
    now = T0 + timedelta(minutes=40)
    waiting = [WaitingTicket(i, "AB"[i % 2], T0 + timedelta(minutes=i), green=i % 5 == 0) for i in range(1, 20)]
    target = waiting[12]
    windows = [plan(1, "A"), plan(2, "BA"), plan(3, "B", free=3.0)]
    per_call = {"A": 7.0, "B": 4.0}
    f = forecast(target, waiting, windows, now, cfg, per_call)
    free = {w.view.number: w.free_in_min for w in windows}
    left = list(waiting)
    ahead = 0
    while True:
        number = min(free, key=lambda n: (free[n], n))
        view = next(w.view for w in windows if w.view.number == number)
        chosen = policy.choose_next(view, left, now + timedelta(minutes=free[number]), cfg)
        if chosen is None:
            del free[number]
            continue
        if chosen.id == target.id:
            break
        ahead += target.line in view.serving
        left.remove(chosen)
        free[number] += per_call[chosen.line]
    assert (f.people_ahead, f.wait_min) == (ahead, free[number])


def test_forecast_plans_an_idle_window_on_the_lines_it_is_able_to_serve():
    cfg = PolicyConfig()
    now = T0 + timedelta(minutes=30)
    a = [WaitingTicket(1, "A", T0), WaitingTicket(2, "A", T0 + timedelta(minutes=1))]
    me = WaitingTicket(3, "B", T0 + timedelta(minutes=20))
    per_call = {"A": 6.0, "B": 4.0}
    # Window 1 serves A and is able to serve B; nobody serves B. It calls A1 and A2 first (its own
    # line, though it could not have called me then: not people ahead), then me.
    able = WindowPlan(WindowView(1, ("A",), ("A", "B")), 2.0)
    f = forecast(me, a + [me], [able], now, cfg, per_call)
    assert (f.people_ahead, f.wait_min) == (0, 2 + 6 + 6)
    # Pinned, or with the hall's setting off, it keeps to A: no window may call me.
    pinned = WindowPlan(WindowView(1, ("A",), ("A", "B"), pinned=True), 2.0)
    assert forecast(me, a + [me], [pinned], now, cfg, per_call) is None
    off = replace(cfg, idle_windows_take_able_lines=False)
    assert forecast(me, a + [me], [able], now, off, per_call) is None


def test_expected_arrivals_in_a_windows_own_line_go_before_a_line_it_only_helps():
    """Window 1 serves A and helps B only when A is empty. A ticket in B waits while A tickets keep
    coming (expected at the recent rate until A stops issuing); arrivals it will take are not people
    ahead, and a window serving B would not let them pass (they are younger)."""
    cfg = PolicyConfig()
    now = T0 + timedelta(minutes=30)
    me = WaitingTicket(1, "B", now)
    helper = WindowPlan(WindowView(1, ("A",), ("A", "B")), 2.0)
    quiet = forecast(me, [me], [helper], now, cfg, {"A": 5.0, "B": 5.0})
    assert (quiet.people_ahead, quiet.wait_min) == (0, 2.0)
    busy = forecast(
        me, [me], [helper], now, cfg, {"A": 5.0, "B": 5.0}, arrivals_per_min={"A": 0.1}, horizon_min={"A": 20.0}
    )
    # A tickets are expected at 5 and 15 (one every 10 min until A stops issuing at 20): free at 2,
    # window 1 finds A empty and calls B at once.
    assert (busy.people_ahead, busy.wait_min) == (0, 2.0)
    late = WindowPlan(WindowView(1, ("A",), ("A", "B")), 6.0)
    busy = forecast(
        me, [me], [late], now, cfg, {"A": 5.0, "B": 5.0}, arrivals_per_min={"A": 0.1}, horizon_min={"A": 20.0}
    )
    # Free at 6, it takes the A that came at 5 first; at 11 A is empty again (the next comes at 15).
    assert (busy.people_ahead, busy.wait_min) == (0, 6.0 + 5.0)
    own = WindowPlan(WindowView(1, ("B", "A"), ("A", "B")), 6.0)
    assert (
        forecast(
            me, [me], [own], now, cfg, {"A": 5.0, "B": 5.0}, arrivals_per_min={"A": 0.1}, horizon_min={"A": 20.0}
        ).wait_min
        == 6.0
    )


# ---------- through the service: issue, people ahead, the lines summary ----------


@pytest.fixture
def make_service(tmp_path):
    """A service over the small hall built from a modified document, on Thursday 09:00 (fake clock)."""
    from tests.conftest import SHANGHAI
    from tongban.config import parse_hall_config
    from tongban.queue.clock import FakeClock
    from tongban.queue.service import HallService
    from tongban.queue.store import Store

    stores = []

    def build(doc: dict):
        store = Store(tmp_path / f"hall-{len(stores)}.db")
        stores.append(store)
        clock = FakeClock(datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI))
        svc = HallService(store, parse_hall_config(doc), clock)
        svc.sync_with_config()
        return svc, clock

    yield build
    for store in stores:
        store.close()


def test_an_idle_window_takes_a_ticket_of_a_line_it_is_able_to_serve_own_lines_first(service, clock):
    """Window 1 serves A and is able to serve B. It calls its own line's ticket first, though the B
    ticket is older; with A empty it takes the B ticket instead of idling."""
    service.window_action(1, "open", clerk="c1")
    b = service.take_ticket(line="B").ticket
    clock.advance(minutes=5)
    a = service.take_ticket(line="A").ticket
    assert service.call_next(1).id == a.id
    service.act(a.id, "start", window=1)
    service.act(a.id, "finish", window=1)
    called = service.call_next(1)
    assert (called.id, called.window, service.window(1).serving) == (b.id, 1, ("A",))


def test_a_pinned_window_keeps_to_its_lines(service):
    service.window_action(1, "open", clerk="c1")
    service.set_pinned(1, True)
    service.take_ticket(line="B")
    with pytest.raises(errors.NothingWaiting):
        service.call_next(1)
    service.set_pinned(1, False)
    assert service.call_next(1).line == "B"


def test_with_the_setting_off_an_idle_window_waits(make_service):
    doc = small_hall_doc()
    doc["policy"] = {"idle_windows_take_able_lines": False}
    svc, _ = make_service(doc)
    svc.window_action(1, "open", clerk="c1")
    svc.take_ticket(line="B")
    with pytest.raises(errors.NothingWaiting):
        svc.call_next(1)


def test_the_forecast_gives_a_line_nobody_serves_minutes_from_a_window_able_to_serve_it(make_service):
    """Only window 1 is open (serving A, able to serve B), busy with an A ticket, one more A waiting.
    A B ticket gets its minutes from window 1: after the A tickets. With the setting off no open,
    staffed window may call it, and nobody is promised minutes."""
    for take in (True, False):
        doc = small_hall_doc()
        doc["policy"] = {"idle_windows_take_able_lines": take}
        svc, clock = make_service(doc)
        svc.window_action(1, "open", clerk="c1")
        svc.take_ticket(line="A")
        svc.call_next(1)
        svc.take_ticket(line="A")
        clock.advance(minutes=1)
        issued = svc.take_ticket(line="B")
        per_a = svc.per_call_minutes()["A"]
        outlook = svc.ticket_outlook(issued.ticket)
        if take:
            # window 1 is free in (per call − 1 min), calls the waiting A (and any A expected to come
            # meanwhile: its own line goes first), then the B ticket; nobody is ahead of it at window 1
            assert outlook.windows == (1,) and outlook.people_ahead == 0
            assert outlook.estimate.minutes >= round(per_a - 1 + per_a) and outlook == issued.outlook
        else:
            assert outlook.estimate is None and outlook.windows == ()


def test_issue_counts_other_lines_tickets_a_shared_window_takes_first(service, clock):
    """Small hall: window 1 serves A, window 2 serves B then A. Only window 2 is open: an A ticket
    has ahead of it the older B tickets window 2 takes first, not just the A tickets."""
    service.window_action(2, "open", clerk="c2")
    service.take_ticket(line="B")
    clock.advance(minutes=1)
    service.take_ticket(line="B")
    clock.advance(minutes=1)
    issued = service.take_ticket(line="A")
    assert issued.people_ahead == 2
    # The lines summary gives a newcomer the same forecast as the kiosk would print.
    summary = {line["prefix"]: line for line in service.lines_summary()}
    assert summary["A"]["estimate"] == service.newcomer_outlook("A").estimate.as_dict()
    outlook = service.ticket_outlook(issued.ticket)
    assert outlook == issued.outlook and outlook.people_ahead == 2 and outlook.estimate.minutes > 0


def test_minutes_per_call_are_smoothed_and_survive_a_restart(service, clock, store, hall_config, tmp_path):
    service.window_action(1, "open", clerk="c1")
    for minutes in (4, 8):
        t = service.take_ticket(line="A").ticket
        service.call_next(1)
        clock.advance(minutes=1)
        service.act(t.id, "start", window=1)
        clock.advance(minutes=minutes)
        service.act(t.id, "finish", window=1)
    row = store.one("SELECT service_min, cycle_min, cycle_n FROM lines WHERE prefix = 'A'")
    assert row["service_min"] == pytest.approx(6.0) and row["cycle_min"] == pytest.approx(7.0) and row["cycle_n"] == 2
    from tongban.queue.service import HallService
    from tongban.queue.store import Store

    again = HallService(Store(store.path), hall_config, clock)
    assert again.per_call_minutes()["A"] == pytest.approx(7.0)
    again.store.close()


def test_the_band_is_measured_on_the_recent_calls():
    from tongban.queue.estimates import BAND_Z, SPREAD_MIN_CALLS, band_from, measured_spread

    assert measured_spread([0.5] * (SPREAD_MIN_CALLS - 1)) == (-BAND_Z, BAND_Z)  # too few: the model's
    errors = [x / 10 for x in range(-20, 21)]  # -2.0 .. 2.0, evenly
    lo, hi = measured_spread(errors)
    assert lo == pytest.approx(-1.6) and hi == pytest.approx(1.6)
    # Waits always longer than forecast: the band still holds the estimate itself.
    assert measured_spread([1.0 + x / 100 for x in range(50)])[0] == 0.0
    est = band_from(10.0, 2.0, (-1.0, 2.0))
    assert (est.minutes, est.low, est.high) == (10, 8, 14)


def test_each_ticket_keeps_its_forecast_and_the_band_follows_the_real_waits(service, clock):
    """Issue keeps what the ticket was told; once enough tickets have been called, the band spans
    how far their real waits fell from it."""
    service.window_action(1, "open", clerk="c1")
    first = service.take_ticket(line="A")
    row = service.store.one("SELECT minutes, sd FROM ticket_estimates WHERE ticket_id = ?", (first.ticket.id,))
    assert row["minutes"] == 0.0 and row["sd"] == 0.0  # window 1 is free: called at once
    wide = service._band_spread()
    # Thirty tickets each told ~N minutes that waited twice that: the measured band reaches above.
    with service.store.immediate() as conn:
        for i in range(30):
            cur = conn.execute(
                "INSERT INTO tickets (token, service_day, prefix, seq, number, line, state, issued_at, queued_at,"
                " called_at) VALUES (?, '2026-11-25', 'A', ?, ?, 'A', 'done', ?, ?, ?)",
                (
                    f"t{i}",
                    100 + i,
                    f"A{100 + i}",
                    "2026-11-25T01:00:00+00:00",
                    "2026-11-25T01:00:00+00:00",
                    "2026-11-25T01:20:00+00:00",
                ),
            )
            conn.execute("INSERT INTO ticket_estimates VALUES (?, 10.0, 2.0)", (cur.lastrowid,))
    assert wide == (-1.28, 1.28) and service._band_spread() == wide  # worked out once a minute
    clock.advance(minutes=1)
    assert service._band_spread() == pytest.approx((0.0, 5.0))
    issued = service.take_ticket(line="A")
    est = issued.estimate  # from the forecast down to it (rounded), and far above it
    assert est.minutes - 1 <= est.low <= est.minutes and est.high - est.minutes > 3 * (est.minutes - est.low)
