"""Clerk console, rating pad, manager console and day report in chromium against a real server.

What a clerk and a manager do: recall, no-show, transfer and suspend/resume through the console; a rating given
on the pad appears in the day report; a manager changes a window's lines and the next call follows;
a clerk cannot open /manage or another window's console. Screenshots go to docs/screenshots/.
"""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from datetime import date, datetime, time, timedelta

from tongban.config import load_hall_config
from tongban.queue import errors, ratings
from tongban.queue.clock import FakeClock, SystemClock
from tongban.queue.service import HallService
from tongban.queue.store import Store
from tongban.web.app import always_open

from .axe import violations
from .conftest import PASSWORD, login, screenshot

SSE_COUNTER = "document.addEventListener('htmx:sseOpen', () => { window.__sseOpen = (window.__sseOpen || 0) + 1; });"


class Api:
    """The JSON API of a live hall (seeding tickets and other windows' activity)."""

    def __init__(self, hall):
        self.hall = hall
        self.tokens: dict[str, str] = {}

    def __call__(self, method: str, path: str, token: str | None = None, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        request = urllib.request.Request(f"{self.hall.url}/api/v1{path}", data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            return json.load(exc)

    def login(self, username: str, window: int | None = None) -> str:
        if username not in self.tokens:
            body = {"username": username, "password": PASSWORD, **({"window": window} if window else {})}
            self.tokens[username] = self("POST", "/login", body=body)["token"]
        return self.tokens[username]

    def issue(self, **body) -> dict:
        return self("POST", "/tickets", self.hall.tokens["kiosk-1"], body)

    def open_and_call(self, window: int, *, start: bool = False, finish: bool = False) -> dict:
        token = self.login(f"clerk{window}", window)
        self("POST", f"/windows/{window}/open", token)
        ticket = self("POST", f"/windows/{window}/next", token)
        if (start or finish) and "id" in ticket:
            self("POST", f"/tickets/{ticket['id']}/start", token)
        if finish and "id" in ticket:
            self("POST", f"/tickets/{ticket['id']}/finish", token)
        return ticket

    def ticket(self, ticket_id: int) -> dict:
        return self("GET", f"/tickets/{ticket_id}", self.login("manager"))


def service(hall, clock=None) -> HallService:
    """The hall's service on the live database file, as the devices process or a keypad would use it."""
    config = load_hall_config(hall.config)
    # The live server runs --always-open (a demo at any hour); so does the service seeding it now.
    return HallService(Store(hall.db), always_open(config) if clock is None else config, clock or SystemClock())


def busy_hall(hall, windows=(2, 4, 5, 7, 8, 10), start=(4, 8, 10)) -> None:
    """Other windows at work, so screens look like a real morning."""
    svc = service(hall)
    try:
        for n in windows:
            svc.window_action(n, "open", clerk=f"clerk{n}")
            line = svc.window(n).serving[0]
            svc.take_ticket(line=line)
            ticket = svc.call_next(n, clerk=f"clerk{n}")
            if n in start:
                svc.act(ticket.id, "start", window=n, actor=f"clerk{n}")
        for line in "AABBBCDDE":
            svc.take_ticket(line=line)
    finally:
        svc.store.close()


def previous_workday(today: date) -> date:
    day = today - timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


LEVEL_WEIGHTS = {5: 62, 4: 22, 3: 9, 2: 4, 1: 3}
COMMENTS = ["材料清单没讲清楚，跑了两趟", "等候时间太长", "窗口人员解释很耐心", None, None]


def seed_history(hall, day: date, *, seed: int = 7) -> None:
    """A whole past service day through the real service with a fake clock: arrivals morning and
    afternoon, eight windows, service times per line, no-shows, transfers and pad ratings."""
    config = load_hall_config(hall.config)
    tz = config.hall.tz
    clock = FakeClock(datetime.combine(day, time(8, 30), tz))
    svc = service(hall, clock)
    rng = random.Random(seed)
    windows = [1, 3, 4, 5, 7, 8, 9, 10]
    service_min = {"A": 11, "B": 8, "C": 16, "D": 7, "E": 6}
    weights = {"A": 32, "B": 30, "C": 10, "D": 16, "E": 12}
    # A morning peak (09:00-10:30) and a quieter afternoon; no tickets in the lunch break.
    arrivals = sorted([rng.triangular(0, 200, 60) for _ in range(95)] + [rng.uniform(330, 480) for _ in range(55)])
    busy: dict[int, tuple[int, float]] = {}
    try:
        for n in windows:
            svc.window_action(n, "open", clerk=f"clerk{n}")
        minute = 0.0
        while minute < 600:
            clock.set(datetime.combine(day, time(8, 30), tz) + timedelta(minutes=minute))
            while arrivals and arrivals[0] <= minute:
                arrivals.pop(0)
                line = rng.choices(list(weights), list(weights.values()))[0]
                svc.take_ticket(matter=rng.choice(config.line(line).matters), kiosk="kiosk-1")
            for n in windows:
                clerk = f"clerk{n}"
                if n in busy and busy[n][1] <= minute:
                    ticket_id = busy.pop(n)[0]
                    svc.act(ticket_id, "finish", window=n, actor=clerk)
                    if rng.random() < 0.8:
                        level = rng.choices(list(LEVEL_WEIGHTS), list(LEVEL_WEIGHTS.values()))[0]
                        reasons = rng.sample(sorted(ratings.REASONS), rng.randint(1, 2)) if level <= 2 else []
                        ratings.rate(
                            svc.store,
                            ticket_id,
                            level,
                            reasons,
                            rng.choice(COMMENTS) if level <= 2 else None,
                            now=clock.now(),
                            actor=f"terminal:pad-{n}",
                            window=n,
                        )
                    else:
                        ratings.expire_rating(svc.store, ticket_id, now=clock.now())
                if n in busy:
                    continue
                try:
                    ticket = svc.call_next(n, clerk=clerk)
                except errors.NothingWaiting:
                    continue
                roll = rng.random()
                if roll < 0.05:
                    svc.act(ticket.id, "recall", window=n, actor=clerk)
                    svc.act(ticket.id, "no_show", window=n, actor=clerk)
                elif roll < 0.09:
                    svc.act(ticket.id, "start", window=n, actor=clerk)
                    other = rng.choice([p for p in "ABCDE" if p != ticket.line])
                    svc.act(ticket.id, "transfer", window=n, actor=clerk, to_line=other, reason="需由其他部门窗口办理")
                else:
                    svc.act(ticket.id, "start", window=n, actor=clerk)
                    busy[n] = (ticket.id, minute + rng.lognormvariate(0, 0.5) * service_min[ticket.line])
            if not arrivals and not busy and not svc.waiting(day.isoformat()):
                break
            minute += 0.5
        for n in windows:
            svc.window_action(n, "close", actor="system")
    finally:
        svc.store.close()


def live_page(new_page, width: int, height: int):
    page = new_page(width, height)
    page.add_init_script(SSE_COUNTER)
    return page


def wait_live(page) -> None:
    page.wait_for_function("() => (window.__sseOpen || 0) > 0")


def enrol(page, hall, name: str) -> None:
    page.goto(f"{hall.url}/enrol?token={hall.tokens[name]}")
    page.wait_for_load_state()


def console(new_page, hall, window: int, width: int = 1440, height: int = 900):
    page = live_page(new_page, width, height)
    page.on("dialog", lambda d: d.accept())
    login(page, hall.url, f"clerk{window}", window=window)
    assert page.url.endswith(f"/window/{window}")
    wait_live(page)
    return page


def current_number(page) -> str:
    return page.locator("[data-current-number]").inner_text()


def test_recall_no_show_transfer_and_suspend_resume_through_the_console(live_hall, new_page):
    api = Api(live_hall)
    first = api.issue(matter="SCJG-001")
    second = api.issue(matter="SCJG-005")
    third = api.issue(matter="SCJG-002")
    api.issue(line="B")
    page = console(new_page, live_hall, 3, 1366, 768)  # the counter's usual screen
    page.click(".call-next.open-first")
    page.wait_for_selector(".call-next[data-key=n]:not([disabled])")

    # 叫号 with the keyboard: the ticket, its matter's guide (materials, time limit, fee).
    page.keyboard.press("Space")
    page.wait_for_selector(f"[data-current-number]:text-is('{first['number']}')")
    guide = page.locator(".guide").inner_text()
    assert "内资企业及分支机构设立登记" in guide and "申请材料" in guide and "收费标准" in guide
    screenshot(page, "console-called", docs=True)

    # Recall shows its count; after hall.max_recalls (3) no-show is offered first and recall looks off:
    # a 4th R says the limit instead of doing nothing.
    for n in (1, 2, 3):
        page.keyboard.press("r")
        page.wait_for_selector(f'[data-recalls="{n}"]')
    assert page.locator(".actions button").first.get_attribute("data-key") == "x"
    assert page.locator('.actions [data-key="r"]').get_attribute("aria-disabled") == "true"
    page.keyboard.press("r")
    page.wait_for_selector("#toast .toast.error:has-text('达到上限 3 次')")
    screenshot(page, "console-recall-limit", docs=True)
    # Called a moment ago: X asks once more, and X again marks the no-show.
    page.keyboard.press("x")
    page.wait_for_selector("#toast [data-confirm-no-show]")
    page.keyboard.press("x")
    page.wait_for_selector(".ticket-card.empty")
    assert api.ticket(first["id"])["state"] == "no_show"

    # Transfer to another line with a reason, through the dialog.
    page.keyboard.press("Space")
    page.wait_for_selector(f"[data-current-number]:text-is('{second['number']}')")
    page.keyboard.press("t")
    dialog = page.locator("#transfer-dialog")
    dialog.wait_for(state="visible")
    dialog.locator(".choice", has=page.locator("input[value='line:C']")).click()
    dialog.locator("select[name=reason_key]").select_option("transfer_reason_other_dept")
    dialog.locator("input[name=note]").fill("需公证处办理")
    screenshot(page, "console-transfer", docs=True)
    dialog.locator("button[type=submit]").click()
    dialog.wait_for(state="hidden")
    page.wait_for_selector(".ticket-card.empty")
    moved = api.ticket(second["id"])
    assert moved["state"] == "waiting" and moved["line"] == "C" and moved["transferred"]
    assert moved["events"][-1]["data"]["reason"] == "需由其他部门窗口办理：需公证处办理"

    # Suspend for missing materials, serve on, resume.
    page.keyboard.press("Space")
    page.wait_for_selector(f"[data-current-number]:text-is('{third['number']}')")
    page.keyboard.press("s")
    page.wait_for_selector(".ticket-card.state-serving")
    page.keyboard.press("h")  # suspend asks why: 1 is 补材料
    page.wait_for_selector(".actions .reason-menu[open] .reasons")
    page.keyboard.press("1")
    page.wait_for_selector(f".suspended-list .num:text-is('{third['number']}')")
    assert "补材料" in page.locator(".suspended-list li").first.inner_text()
    screenshot(page, "console-suspended", docs=True)
    page.locator(".suspended-list button").click()
    page.wait_for_selector(f".ticket-card.state-serving [data-current-number]:text-is('{third['number']}')")
    page.keyboard.press("f")
    page.wait_for_selector(".ticket-card.empty")
    assert [e["action"] for e in api.ticket(third["id"])["events"]] == [
        "issue",
        "call",
        "start",
        "suspend",
        "resume",
        "finish",
    ]


def test_a_green_ticket_found_by_search_with_its_reason_and_a_printer_named_by_place(live_hall, new_page):
    page = console(new_page, live_hall, 4)  # window 4 may serve B and C
    page.click("summary:has-text('绿色通道取号')")
    printers = page.locator("form[hx-post$='/green'] select[name=printer] option").all_inner_texts()
    assert any("一楼大厅取号机 1（一楼大厅入口）" in p for p in printers) and "printer-1" not in printers
    page.fill("#green-q", "sydj")  # the kiosk's search: pinyin initials of 失业登记
    pick = page.locator("#green-results label.pick:has-text('失业登记')").first
    pick.wait_for()
    pick.locator("input").check()
    page.check("input[name=green_reason][value=elderly]")
    page.check("form[hx-post$='/green'] input[name=confirmed]")
    page.click("form[hx-post$='/green'] button[type=submit]")
    page.wait_for_selector(".toast:has-text('已发绿色通道号')")
    store = Store(live_hall.db, migrate=False)
    try:
        row = store.one("SELECT matter, green, green_reason FROM tickets ORDER BY id DESC LIMIT 1")
    finally:
        store.close()
    assert row["green"] == 1 and row["green_reason"] == "elderly" and row["matter"].startswith("RSJ")


def test_a_rating_given_on_the_pad_appears_in_the_day_report(live_hall, new_page):
    api = Api(live_hall)
    yesterday = previous_workday(datetime.now(load_hall_config(live_hall.config).hall.tz).date())
    seed_history(live_hall, yesterday)
    pad = live_page(new_page, 1280, 800)
    enrol(pad, live_hall, "pad-1")
    assert pad.url.endswith("/window/1/pad")
    wait_live(pad)
    page = console(new_page, live_hall, 1)
    page.click(".call-next.open-first")
    pad.wait_for_selector(".clerk-card")
    assert "C001" in pad.locator(".clerk-card").inner_text()
    screenshot(pad, "pad-idle", docs=True)

    ticket = api.issue(matter="SCJG-001")
    page.wait_for_selector(".call-next[data-key=n]:not([disabled])")
    page.keyboard.press("Space")
    page.wait_for_selector(f"[data-current-number]:text-is('{ticket['number']}')")
    page.keyboard.press("s")
    page.wait_for_selector(".ticket-card.state-serving")
    page.keyboard.press("f")

    pad.wait_for_selector("form.rate")
    assert ticket["number"] in pad.locator(".served").inner_text()
    screenshot(pad, "pad-rate", docs=True)
    pad.click("[data-bad-level='2']")
    pad.locator(".reason", has=pad.locator("input[value=long_wait]")).click()
    pad.fill("textarea[name=comment]", "排队一个多小时")
    screenshot(pad, "pad-bad-reasons", docs=True)
    pad.click("[data-bad-submit]")
    pad.wait_for_selector(".thanks.ok")
    screenshot(pad, "pad-thanks", docs=True)
    pad.wait_for_selector(".idle")

    manager = new_page(1440, 2200)
    login(manager, live_hall.url, "manager")
    manager.goto(f"{live_hall.url}/manage/report")
    bad = manager.locator("#table-bad_ratings").inner_text()
    assert ticket["number"] in bad and "不满意" in bad and "等候时间太长" in bad and "排队一个多小时" in bad
    shares = manager.locator("#table-ratings").inner_text()
    assert "不满意" in shares and "100.0%" in shares
    csv = manager.request.get(f"{live_hall.url}/manage/report/bad_ratings.csv")
    assert csv.ok and "排队一个多小时" in csv.text()
    # Any past day: yesterday's full day, with charts.
    manager.goto(f"{live_hall.url}/manage/report?day={yesterday.isoformat()}")
    assert manager.locator("svg.chart").count() == 3
    assert int(manager.locator(".totals .total .v").first.inner_text()) == 150
    screenshot(manager, "report-day", docs=True)


def test_a_manager_changes_a_windows_lines_and_the_next_call_follows(live_hall, new_page):
    api = Api(live_hall)
    busy_hall(live_hall)
    manager = live_page(new_page, 1600, 1100)
    login(manager, live_hall.url, "manager")
    assert manager.url.endswith("/manage/")
    wait_live(manager)
    # Window 1 serves A; one touch adds B, one touch drops A.
    manager.click("[data-cell='1-B']")
    manager.wait_for_selector("[data-cell='1-B'].serving")
    manager.click("[data-cell='1-A']")
    manager.wait_for_selector("[data-cell='1-A']:not(.serving)")
    manager.click("[data-pin='1']")
    manager.wait_for_selector("[data-pin='1'][aria-pressed=true]")

    older_a = api.issue(line="A")
    api.issue(line="B")
    page = console(new_page, live_hall, 1)
    page.click(".call-next.open-first")
    page.wait_for_selector(".call-next[data-key=n]:not([disabled])")
    page.keyboard.press("Space")
    called = current_number(page)
    # Oldest first across the window's lines: without the change it would have been an A ticket.
    assert called.startswith("B") and api.ticket(older_a["id"])["state"] == "waiting"
    # The manager's live hall shows the call without reloading.
    manager.wait_for_selector(f"tr[data-window='1'] .now:text-is('{called}')")
    screenshot(manager, "manage-live", docs=True)


def test_a_clerk_cannot_open_manage_or_another_windows_console(live_hall, new_page):
    page = new_page(1280, 800)
    login(page, live_hall.url, "clerk1", window=1)
    for path in ("/manage/", "/manage/report", "/window/2", "/window/2/pad"):
        response = page.goto(f"{live_hall.url}{path}")
        assert response.status == 403, path
        assert "无权访问此页面" in page.content()
    assert page.goto(f"{live_hall.url}/window/1").status == 200


def test_no_show_asks_twice_and_undo_brings_the_citizen_back(live_hall, new_page):
    api = Api(live_hall)
    first = api.issue(matter="SCJG-001")
    page = console(new_page, live_hall, 3, 1366, 768)  # the counter's usual screen
    page.click(".call-next.open-first")
    page.wait_for_selector(".call-next[data-key=n]:not([disabled])")
    page.keyboard.press("Space")
    page.wait_for_selector(f"[data-current-number]:text-is('{first['number']}')")

    # A mouse click on 过号 seconds after the call only asks; Esc lets the citizen keep walking.
    page.locator('.actions [data-key="x"]').click()
    question = page.locator("#toast [data-confirm-no-show]")
    question.wait_for()
    assert "确定过号请再按一次" in question.inner_text() and first["number"] in question.inner_text()
    screenshot(page, "console-no-show-confirm", docs=True)
    page.keyboard.press("Escape")
    question.wait_for(state="detached")
    assert api.ticket(first["id"])["state"] == "called"

    # X, then the confirm button with the mouse: marked, and 撤销 counts down from 30.
    page.keyboard.press("x")
    question.wait_for()
    question.locator("button[data-key=x]").click()
    page.wait_for_selector(".ticket-card.empty")
    assert api.ticket(first["id"])["state"] == "no_show"
    bar = page.locator("#undo .undo-bar")
    bar.wait_for()
    left = int(bar.locator("[data-undo-left]").inner_text())
    assert 25 <= left <= 30
    toast = page.locator("#toast .toast.ok strong")
    assert toast.inner_text() == f"{first['number']} 已标记过号"
    # Readable: white on green (the cases stylesheet's green .ok once made it green on green).
    assert toast.evaluate("e => getComputedStyle(e).color") == "rgb(255, 255, 255)"
    # ...and it hides none of the shortcut list, and the page with its toast and undo bar passes axe.
    box, keys = page.locator("#toast .toast").bounding_box(), page.locator(".card.keys").bounding_box()
    assert box["x"] + box["width"] <= keys["x"] or box["y"] + box["height"] <= keys["y"], (box, keys)
    assert violations(page) == []
    screenshot(page, "console-undo", docs=True)

    # U takes it back: the same citizen is called at this window again, with their recalls.
    page.keyboard.press("u")
    page.wait_for_selector(f".ticket-card.state-called [data-current-number]:text-is('{first['number']}')")
    bar.wait_for(state="detached")
    back = api.ticket(first["id"])
    assert back["state"] == "called" and back["window"] == 3
    assert back["events"][-1]["action"] == "undo"

    # A finish undone with the mouse: back to serving.
    page.keyboard.press("s")
    page.wait_for_selector(".ticket-card.state-serving")
    page.keyboard.press("f")
    page.wait_for_selector(".ticket-card.empty")
    page.locator("#undo button.undo").click()
    page.wait_for_selector(f".ticket-card.state-serving [data-current-number]:text-is('{first['number']}')")
    page.keyboard.press("f")
    page.wait_for_selector(".ticket-card.empty")

    # A break says why and counts; call during it says why nothing happens.
    api.issue(matter="SCJG-001")
    page.keyboard.press("p")
    page.wait_for_selector("#win-state .reason-menu[open] .reasons")
    page.keyboard.press("1")
    page.wait_for_selector("#win-state .break-timer")
    assert "午间休息" in page.locator("#win-state").inner_text()
    page.keyboard.press("Space")
    page.wait_for_selector("#toast .toast.error:has-text('休息中（午间休息')")
    screenshot(page, "console-break")
