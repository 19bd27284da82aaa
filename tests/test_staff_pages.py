"""Clerk console, rating pad, manager console, day report and hall display through the Flask test client
(the browser tests in tests/browser/test_staff*.py drive the same pages in chromium)."""

from __future__ import annotations

import csv
import io
import queue
import re
import threading
import time
from datetime import timedelta

import pytest

from tongban.config import parse_hall_config
from tongban.queue import ratings
from tongban.queue.accounts import Accounts
from tongban.queue.store import Store, utc_iso
from tongban.voice import call_sequence
from tongban.web.access import TERMINAL_COOKIE
from tongban.web.app import create_app

from .apiclient import PASSWORD, csrf_token, make_hall_client
from .conftest import small_hall_doc, wait_for


@pytest.fixture
def hall_config():
    doc = small_hall_doc()
    doc["printers"] = [{"id": "printer-1", "url": "dummy://"}, {"id": "printer-2", "url": "dummy://"}]
    return parse_hall_config(doc, "small-hall-with-printers")


@pytest.fixture
def hall(tmp_path, hall_config, clock):
    hall = make_hall_client(tmp_path, hall_config, clock)
    hall.app.config["RATING_TIMEOUT_S"] = 60
    store = Store(tmp_path / "api.db")
    accounts = Accounts(store, clock)
    hall.terminals = {
        "display": accounts.add_terminal("hall-display", "display", "综合屏"),
        "pad-1": accounts.add_terminal("pad-1", "pad", "1号评价器", window=1),
        "pad-2": accounts.add_terminal("pad-2", "pad", "2号评价器", window=2),
    }
    store.close()
    hall.db = tmp_path / "api.db"
    return hall


class Browser:
    """A test client with a signed-in staff member or an enrolled terminal, sending htmx posts."""

    def __init__(self, client, home: str):
        self.client = client
        page = client.get(home)
        assert page.status_code == 200, page.status_code
        self.token = re.search(r'X-CSRFToken": "([^"]+)"', page.get_data(as_text=True)).group(1)

    def get(self, url):
        return self.client.get(url)

    def post(self, url, data=None):
        return self.client.post(url, data=data or {}, headers={"X-CSRFToken": self.token, "HX-Request": "true"})


def staff(hall, username, window=None) -> Browser:
    client = hall.app.test_client()
    page = client.get("/login").get_data(as_text=True)
    r = client.post(
        "/login",
        data={"csrf_token": csrf_token(page), "username": username, "password": PASSWORD, "window": str(window or "")},
    )
    assert r.status_code == 302
    return Browser(client, f"/window/{window}" if window else "/manage/")


def terminal(hall, name, home) -> Browser:
    client = hall.app.test_client()
    client.set_cookie(TERMINAL_COOKIE, hall.terminals[name])
    return Browser(client, home)


def text(response) -> str:
    return response.get_data(as_text=True)


def _ticket(hall, matter="M1"):
    return hall.call("POST", "/tickets", hall.kiosk, json={"matter": matter}).get_json()


def _store(hall):
    return Store(hall.db, migrate=False)


# ---------- who may open what ----------


def test_a_clerk_opens_only_their_own_console_and_not_manage(hall):
    clerk = staff(hall, "clerk1", window=1)
    assert clerk.get("/window/1").status_code == 200
    assert clerk.get("/window/2").status_code == 403
    assert clerk.post("/window/2/next").status_code == 403
    assert clerk.get("/window/2/stream").status_code == 403
    assert clerk.get("/manage/").status_code == 403
    assert clerk.get("/manage/report").status_code == 403
    assert clerk.post("/manage/windows/1/lines/B").status_code == 403
    manager = staff(hall, "manager")
    assert manager.get("/window/2").status_code == 200 and manager.get("/window/9").status_code == 404


def test_terminals_reach_their_own_screens_only(hall):
    pad = terminal(hall, "pad-1", "/window/1/pad")
    assert pad.get("/window/2/pad").status_code == 403
    assert pad.get("/window/1").status_code == 403 and pad.get("/manage/").status_code == 403
    assert pad.get("/display/").status_code == 403
    display = terminal(hall, "display", "/display/")
    assert display.get("/display/window/2").status_code == 200
    assert display.get("/window/1/pad").status_code == 403 and display.get("/window/1").status_code == 403


# ---------- clerk console ----------


def test_console_calls_recalls_and_offers_no_show_first_at_the_limit(hall):
    clerk = staff(hall, "clerk1", window=1)
    assert "开启窗口" in text(clerk.get("/window/1"))
    assert "1号窗口已开启" in text(clerk.post("/window/1/state/open"))
    t = _ticket(hall)
    r = clerk.post("/window/1/next")
    assert r.status_code == 200 and f"已呼叫 {t['number']}" in text(r)
    assert 'hx-swap-oob="innerHTML"' in text(r) and f">{t['number']}</div>" in text(r)
    page = text(clerk.get("/window/1"))
    assert "个体" not in page and "失业登记" in page and "身份证" in page and "即办" in page  # the matter's guide
    assert "已重呼 0/2 次" in page
    for n in (1, 2):
        r = clerk.post(f"/window/1/ticket/{t['id']}/recall")
        assert f"第 {n}/2 次" in text(r)
    page = text(clerk.get("/window/1"))
    actions = page[page.index('class="actions"') : page.index('class="guide"')]
    assert actions.index("no_show") < actions.index("/start")  # no-show is offered first
    # Recall looks off, but R still asks, and the refusal says the limit instead of nothing happening.
    assert 'aria-disabled="true" data-key="r"' in actions
    refused = clerk.post(f"/window/1/ticket/{t['id']}/recall")
    assert refused.status_code == 409 and "已重呼 2 次，达到上限 2 次，不能再重呼" in text(refused)
    assert "the limit of 2" in text(refused) and "第 3/2" not in text(refused)
    # Called a moment ago: the no-show needs its second press.
    first = clerk.post(f"/window/1/ticket/{t['id']}/no_show")
    assert first.status_code == 409 and "确定过号请再按一次" in text(first)
    assert "已标记过号" in text(clerk.post(f"/window/1/ticket/{t['id']}/no_show", {"confirm": "yes"}))
    assert hall.call("GET", f"/tickets/{t['id']}", hall.login("manager")).get_json()["state"] == "no_show"


def test_console_no_show_asks_a_second_press_then_offers_undo_for_30_seconds(hall, clock):
    clerk = staff(hall, "clerk1", window=1)
    clerk.post("/window/1/state/open")
    t = _ticket(hall)
    clerk.post("/window/1/next")
    clock.advance(seconds=20)
    first = text(clerk.post(f"/window/1/ticket/{t['id']}/no_show"))
    # The first press asks: the question names the number, the 20 s and the recalls, and offers X again.
    assert "A001 号叫号仅 20 秒，已重呼 0/2 次" in first and "Press again" in first
    assert f'data-key="x" hx-post="/window/1/ticket/{t["id"]}/no_show"' in first and '"confirm": "yes"' in first
    assert "已叫号" in text(clerk.get("/window/1"))  # nothing happened yet
    done = text(clerk.post(f"/window/1/ticket/{t['id']}/no_show", {"confirm": "yes"}))
    assert "A001 已标记过号" in done
    undo_bar = done[done.index('id="undo"') :]
    assert "撤销" in undo_bar and 'data-key="u"' in undo_bar and f"/window/1/undo/{t['id']}" in undo_bar
    assert "<b data-undo-left>30</b>" in undo_bar
    # The page drawn again still has it, with the seconds left.
    clock.advance(seconds=12)
    assert "<b data-undo-left>18</b>" in text(clerk.get("/window/1"))
    back = text(clerk.post(f"/window/1/undo/{t['id']}"))
    assert "已撤销，A001 回到已叫号" in back
    assert 'data-key="u"' not in back[back.index('id="undo"') :]  # nothing left to undo
    assert hall.call("GET", f"/tickets/{t['id']}", hall.login("manager")).get_json()["state"] == "called"
    # Past 30 s the undo is refused by name, and the control is gone from the page.
    clock.advance(minutes=3)
    clerk.post(f"/window/1/ticket/{t['id']}/no_show")  # 3 minutes, but a recall left: asks again
    assert "A001 已标记过号" in text(clerk.post(f"/window/1/ticket/{t['id']}/no_show", {"confirm": "yes"}))
    clock.advance(seconds=31)
    assert 'data-key="u"' not in text(clerk.get("/window/1"))
    late = clerk.post(f"/window/1/undo/{t['id']}")
    assert late.status_code == 409 and "已超过 30 秒，不能撤销" in text(late)


def test_console_finish_and_transfer_can_be_undone(hall):
    clerk = staff(hall, "clerk1", window=1)
    clerk.post("/window/1/state/open")
    t = _ticket(hall)
    clerk.post("/window/1/next")
    clerk.post(f"/window/1/ticket/{t['id']}/start")
    assert "撤销" in text(clerk.post(f"/window/1/ticket/{t['id']}/finish"))
    assert "回到办理中" in text(clerk.post(f"/window/1/undo/{t['id']}"))
    r = clerk.post(
        "/window/1/transfer", {"ticket": str(t["id"]), "target": "line:B", "reason_key": "transfer_reason_other"}
    )
    assert f"/window/1/undo/{t['id']}" in text(r)
    assert "回到办理中" in text(clerk.post(f"/window/1/undo/{t['id']}"))
    ticket = hall.call("GET", f"/tickets/{t['id']}", hall.login("manager")).get_json()
    assert (ticket["state"], ticket["line"], ticket["window"]) == ("serving", "A", 1)
    # Another clerk cannot take it back.
    clerk.post(f"/window/1/ticket/{t['id']}/finish")
    other = staff(hall, "clerk2", window=2)
    refused = other.post(f"/window/2/undo/{t['id']}")
    assert refused.status_code in (403, 409)


def test_nothing_waiting_and_other_refusals_come_back_as_a_red_toast(hall):
    clerk = staff(hall, "clerk1", window=1)
    r = clerk.post("/window/1/next")
    assert r.status_code == 409 and 'class="toast error"' in text(r) and "请先开启窗口" in text(r)
    clerk.post("/window/1/state/open")
    r = clerk.post("/window/1/next")
    assert r.status_code == 409 and "当前没有等候的号" in text(r)


def test_console_transfer_to_a_line_or_a_window_with_a_reason(hall):
    clerk = staff(hall, "clerk1", window=1)
    clerk.post("/window/1/state/open")
    t = _ticket(hall)
    clerk.post("/window/1/next")
    clerk.post(f"/window/1/ticket/{t['id']}/start")
    r = clerk.post(
        "/window/1/transfer",
        {"ticket": str(t["id"]), "target": "line:B", "reason_key": "transfer_reason_other_dept", "note": "公积金提取"},
    )
    assert r.status_code == 200 and f"{t['number']} 已转至 B 队列" in text(r)
    manager = hall.login("manager")
    events = hall.call("GET", f"/tickets/{t['id']}", manager).get_json()["events"]
    assert events[-1]["action"] == "transfer"
    data = events[-1]["data"]
    assert {k: data[k] for k in ("from_line", "to_line", "reason")} == {
        "from_line": "A",
        "to_line": "B",
        "reason": "需由其他部门窗口办理：公积金提取",
    }
    assert data["before"]["line"] == "A" and data["before"]["state"] == "serving"  # what an undo puts back
    assert data["reason_key"] == "transfer_reason_other_dept" and data["note"] == "公积金提取"
    # The citizen is told where and why, on the phone page and in the API, in their language; the
    # clerk's own note stays with the staff (a public page does not repeat what a clerk typed).
    body = hall.call("GET", f"/tickets/{t['id']}", manager).get_json()
    assert body["transfer"] == {
        "to_line": "B",
        "reason_zh": "需由其他部门窗口办理",
        "reason_en": "Handled by another department's window",
    }
    phone = hall.app.test_client()
    page = text(phone.get(f"/t/{body['status_token']}"))
    assert "已转到 B 线（" in page and "原因：需由其他部门窗口办理" in page and "公积金提取" not in page
    phone.get("/lang/en")
    page = text(phone.get(f"/t/{body['status_token']}"))
    assert "Moved to line B (" in page and "Reason: Handled by another department&#39;s window" in page
    # To a window: into the line that window serves first (window 2 serves B, A).
    t2 = _ticket(hall)
    clerk.post("/window/1/next")
    r = clerk.post(
        "/window/1/transfer", {"ticket": str(t2["id"]), "target": "window:2", "reason_key": "transfer_reason_special"}
    )
    assert "已转至 B 队列" in text(r)
    data = hall.call("GET", f"/tickets/{t2['id']}", manager).get_json()["events"][-1]["data"]
    assert data["to_line"] == "B" and data["reason"] == "转至2号窗口：需跨省通办专窗办理"
    told = hall.call("GET", f"/tickets/{t2['id']}", manager).get_json()["transfer"]
    assert told["reason_zh"] == "转至2号窗口：需跨省通办专窗办理"
    assert told["reason_en"] == "To window 2: Needs the cross-province special window"
    # A ticket never transferred says nothing of it.
    assert hall.call("GET", f"/tickets/{_ticket(hall)['id']}", manager).get_json()["transfer"] is None
    assert clerk.post("/window/1/transfer", {"ticket": str(t2["id"])}).status_code == 404


def test_console_suspend_asks_why_shows_it_and_resumes(hall):
    clerk = staff(hall, "clerk1", window=1)
    clerk.post("/window/1/state/open")
    t = _ticket(hall)
    clerk.post("/window/1/next")
    clerk.post(f"/window/1/ticket/{t['id']}/start")
    page = text(clerk.get("/window/1"))
    for label in ("补材料", "等待核验", "身体不适", "其他"):  # the short list the clerk picks from
        assert label in page[page.index('class="reason-menu"') :]
    # No reason, or one not on the list: nothing happens and the toast says to choose.
    for form in ({}, {"reason": "lunch"}):
        refused = clerk.post(f"/window/1/ticket/{t['id']}/suspend", form)
        assert refused.status_code == 400 and "请选择挂起原因" in text(refused)
    done = text(clerk.post(f"/window/1/ticket/{t['id']}/suspend", {"reason": "verification"}))
    assert f"{t['number']} 已挂起：等待核验" in done and "suspended: awaiting verification" in done
    page = text(clerk.get("/window/1"))
    listed = page[page.index('id="suspended"') :]
    assert "挂起的号" in listed and f'<b class="num">{t["number"]}</b>' in listed
    assert "等待核验" in listed[: listed.index("</li>")]
    manager = hall.login("manager")
    assert hall.call("GET", f"/tickets/{t['id']}", manager).get_json()["events"][-1]["data"] == {
        "reason": "verification"
    }
    other = _ticket(hall)
    clerk.post("/window/1/next")
    busy = clerk.post(f"/window/1/ticket/{t['id']}/resume")
    assert busy.status_code == 409  # finish the one at the window first
    clerk.post(f"/window/1/ticket/{other['id']}/start")
    clerk.post(f"/window/1/ticket/{other['id']}/finish")
    assert f"{t['number']} 恢复办理" in text(clerk.post(f"/window/1/ticket/{t['id']}/resume"))
    assert "办结" in text(clerk.get("/window/1"))


def test_console_break_has_a_reason_a_timer_and_explains_call(hall, clock):
    clerk = staff(hall, "clerk1", window=1)
    clerk.post("/window/1/state/open")
    _ticket(hall)
    refused = clerk.post("/window/1/state/pause")
    assert refused.status_code == 400 and "请选择暂停原因" in text(refused)
    assert "暂停服务：午间休息" in text(clerk.post("/window/1/state/pause", {"reason": "lunch"}))
    clock.advance(minutes=12, seconds=5)
    page = text(clerk.get("/window/1"))
    state = page[page.index('id="win-state"') :]
    assert "暂停服务" in state and "午间休息" in state and ">12:05</b>" in state  # the break's timer
    # Call next (N, or Space) during the break is answered: the toast names the break.
    assert 'data-key="n"' in page[page.index('id="current"') :]
    r = clerk.post("/window/1/next")
    assert r.status_code == 409 and "1 号窗口休息中（午间休息，09:00 起），不能叫号" in text(r)
    assert "on a break (lunch, since 09:00)" in text(r)
    assert "恢复服务" in text(clerk.post("/window/1/state/resume"))
    assert "已关闭" in text(clerk.post("/window/1/state/close"))
    assert clerk.post("/window/1/state/fly").status_code == 404


def test_green_channel_needs_the_clerks_confirmation_and_the_reason_for_priority(hall):
    clerk = staff(hall, "clerk1", window=1)
    refused = clerk.post("/window/1/green", {"matter": "M2", "green_reason": "elderly"})
    assert refused.status_code == 400 and "核实" in text(refused)
    refused = clerk.post("/window/1/green", {"matter": "M2", "confirmed": "yes"})
    assert refused.status_code == 400 and "请选择优先原因" in text(refused)
    refused = clerk.post("/window/1/green", {"matter": "M2", "confirmed": "yes", "green_reason": "vip"})
    assert refused.status_code == 400 and "请选择优先原因" in text(refused)
    r = clerk.post("/window/1/green", {"matter": "M2", "confirmed": "yes", "green_reason": "elderly"})
    assert "已发绿色通道号 A001" in text(r)
    r = clerk.post("/window/1/green", {"matter": "line:B", "confirmed": "yes", "green_reason": "serviceman"})
    assert "B001" in text(r)
    store = _store(hall)
    rows = store.all("SELECT number, green, matter, green_reason FROM tickets ORDER BY id")
    store.close()
    assert [tuple(r) for r in rows] == [("A001", 1, "M2", "elderly"), ("B001", 1, None, "serviceman")]
    # Counted in the manager's day report, and in its CSV.
    manager = staff(hall, "manager")
    page = text(manager.get("/manage/report?day=2026-11-26"))
    table = page[page.index('id="table-green"') : page.index('id="table-hours"')]
    assert "绿色通道（按优先原因）" in table and re.search(r"老年人</td><td[^>]*>1<", table)
    rows = list(csv.reader(io.StringIO(text(manager.get("/manage/report/green.csv?day=2026-11-26")).lstrip("\ufeff"))))
    assert ["军人", "1"] == rows[4][:2]


def test_green_channel_form_finds_the_matter_by_search_and_names_printers_by_place(tmp_path, clock):
    doc = small_hall_doc()
    doc["printers"] = [{"id": "printer-1", "url": "dummy://"}, {"id": "printer-9", "url": "dummy://"}]
    kiosk = {"id": "kiosk-1", "name": "一楼取号机 / Ground floor kiosk", "printer": "printer-1"}
    doc["kiosks"] = [{**kiosk, "location": "大厅入口 / Entrance"}]
    hall = make_hall_client(tmp_path, parse_hall_config(doc, "green-form"), clock)
    clerk = staff(hall, "clerk1", window=1)
    page = text(clerk.get("/window/1"))
    form = page[page.index('hx-post="/window/1/green"') :].split("</form>")[0]
    # No long dropdown of matters: a search box, with the window's lines as whole choices to start.
    assert 'id="green-q"' in form and 'hx-get="/window/1/green/matters"' in form and "<optgroup" not in form
    assert 'value="line:A"' in form and 'value="M1"' not in form
    # The reasons for priority, each a choice.
    for key, zh in (("elderly", "老年人"), ("disabled", "残疾人"), ("pregnant", "孕妇"), ("serviceman", "军人")):
        assert f'name="green_reason" value="{key}"' in form and zh in form
    # Printers by where they stand; one no kiosk uses keeps its id.
    assert "一楼取号机（大厅入口）" in form and "Ground floor kiosk (Entrance)" in form
    assert '<option value="printer-9">printer-9</option>' in form
    # Typing finds matters through the hall's one search (queue/search.py), only in this window's lines.
    names = {m.code: m.name_zh for m in hall.app.config["HALL"].matters}
    found = text(clerk.get("/window/1/green/matters?q=" + names["M1"][:2]))
    assert 'value="M1"' in found and names["M1"] in found
    assert "没有找到事项" in text(clerk.get("/window/1/green/matters?q=zzzzqqq"))
    r = clerk.post(
        "/window/1/green", {"matter": "M1", "confirmed": "yes", "green_reason": "disabled", "printer": "printer-1"}
    )
    assert "打印到 一楼取号机（大厅入口）" in text(r) and "printer-1" not in text(r)


def test_reprint_queues_a_reprint_job_on_the_chosen_printer(hall):
    clerk = staff(hall, "clerk1", window=1)
    t = _ticket(hall)
    r = clerk.post("/window/1/reprint", {"number": t["number"].lower(), "printer": "printer-2"})
    assert "已发送补打 A001 到 printer-2" in text(r)  # no kiosk prints on it: known by its id
    assert clerk.post("/window/1/reprint", {"number": "Z999", "printer": "printer-2"}).status_code == 404
    assert clerk.post("/window/1/reprint", {"number": t["number"], "printer": "nope"}).status_code == 400
    store = _store(hall)
    jobs = [tuple(r) for r in store.all("SELECT ticket_id, printer, reprint, state FROM print_jobs")]
    store.close()
    assert jobs == [(t["id"], "printer-2", 1, "pending")]
    # A green ticket can be printed straight away too.
    clerk.post("/window/1/green", {"matter": "M1", "confirmed": "yes", "green_reason": "other", "printer": "printer-1"})


def test_alerts_show_until_acknowledged(hall, clock):
    from tongban.queue import printing

    store = _store(hall)
    printing.record_device_status(store, "printer:printer-1", "printer", "paper_out", "纸尽", clock.now())
    store.close()
    clerk = staff(hall, "clerk1", window=1)
    page = text(clerk.get("/window/1"))
    assert "状态异常" in page
    alert_id = re.search(r'data-alert="(\d+)"', page).group(1)
    assert "告警已确认" in text(clerk.post(f"/window/1/alerts/{alert_id}/ack"))
    assert "设备正常" in text(clerk.get("/window/1"))


# ---------- rating pad ----------


def _finished(hall, clerk_browser, window=1):
    t = _ticket(hall)
    clerk_browser.post(f"/window/{window}/next")
    clerk_browser.post(f"/window/{window}/ticket/{t['id']}/start")
    clerk_browser.post(f"/window/{window}/ticket/{t['id']}/finish")
    return t


def test_pad_idle_shows_window_clerk_name_and_staff_number(hall):
    store = _store(hall)
    with store.immediate() as conn:
        conn.execute("UPDATE accounts SET name = '王敏', staff_no = 'C001' WHERE username = 'clerk1'")
    store.close()
    clerk = staff(hall, "clerk1", window=1)
    clerk.post("/window/1/state/open")
    page = text(terminal(hall, "pad-1", "/window/1/pad").get("/window/1/pad"))
    assert "王敏" in page and "C001" in page and "号窗口" in page and "非常满意" not in page


def test_pad_asks_after_finish_and_records_one_rating_with_reasons(hall):
    clerk = staff(hall, "clerk1", window=1)
    clerk.post("/window/1/state/open")
    t = _finished(hall, clerk)
    pad = terminal(hall, "pad-1", "/window/1/pad")
    page = text(pad.get("/window/1/pad"))
    for level in ("非常满意", "满意", "基本满意", "不满意", "非常不满意"):
        assert level in page
    assert t["number"] in page and "等候时间太长" in page
    r = pad.post(
        "/window/1/pad/rate",
        {"ticket": str(t["id"]), "level": "1", "reasons": ["long_wait", "slow"], "comment": "等了一个小时"},
    )
    assert r.status_code == 200 and "感谢您的评价" in text(r)
    store = _store(hall)
    rating = ratings.rating_of(store, t["id"])
    store.close()
    assert rating["level"] == 1 and rating["reasons"] == ["long_wait", "slow"] and rating["clerk"] == "clerk1"
    again = pad.post("/window/1/pad/rate", {"ticket": str(t["id"]), "level": "5"})
    assert again.status_code == 409
    assert "非常满意" not in text(pad.get("/window/1/pad"))  # back to idle


def test_a_good_rating_drops_reasons_opened_before(hall):
    clerk = staff(hall, "clerk1", window=1)
    clerk.post("/window/1/state/open")
    t = _finished(hall, clerk)
    pad = terminal(hall, "pad-1", "/window/1/pad")
    pad.post("/window/1/pad/rate", {"ticket": str(t["id"]), "level": "4", "reasons": ["attitude"], "comment": "x"})
    store = _store(hall)
    assert ratings.rating_of(store, t["id"])["reasons"] == []
    store.close()


def test_pad_of_another_window_and_staff_cannot_rate(hall):
    clerk = staff(hall, "clerk1", window=1)
    clerk.post("/window/1/state/open")
    t = _finished(hall, clerk)
    assert (
        terminal(hall, "pad-2", "/window/2/pad")
        .post("/window/1/pad/rate", {"ticket": str(t["id"]), "level": "5"})
        .status_code
        == 403
    )
    manager = staff(hall, "manager")
    assert manager.post("/window/1/pad/rate", {"ticket": str(t["id"]), "level": "5"}).status_code == 403


def test_pad_times_out_into_not_rated(hall, clock):
    clerk = staff(hall, "clerk1", window=1)
    clerk.post("/window/1/state/open")
    t = _finished(hall, clerk)
    pad = terminal(hall, "pad-1", "/window/1/pad")
    assert pad.post("/window/1/pad/timeout").get_json() == {"closed": []}  # too early: still asking
    clock.advance(seconds=61)
    assert "非常满意" not in text(pad.get("/window/1/pad"))
    assert pad.post("/window/1/pad/timeout").get_json() == {"closed": [t["id"]]}
    store = _store(hall)
    assert ratings.rating_of(store, t["id"])["rated"] is False
    store.close()


# ---------- manager console ----------


def test_one_touch_on_a_cell_changes_what_a_window_serves_and_the_next_call_follows(hall):
    manager = staff(hall, "manager")
    page = text(manager.get("/manage/"))
    assert 'data-cell="1-A"' in page and 'data-cell="1-B"' in page
    r = manager.post("/manage/windows/1/lines/B")
    assert "1号窗口开始服务 B 队列" in text(r)
    r = manager.post("/manage/windows/1/lines/A")
    assert "不再服务 A" in text(r)
    last = manager.post("/manage/windows/1/lines/B")
    assert last.status_code == 409 and "至少要服务一个队列" in text(last)
    clerk = staff(hall, "clerk1", window=1)
    clerk.post("/window/1/state/open")
    a = _ticket(hall, "M1")
    b = _ticket(hall, "M3")
    assert f"已呼叫 {b['number']}" in text(clerk.post("/window/1/next"))  # A is older, but window 1 serves B only
    assert a["number"] != b["number"]


def test_manager_pins_opens_pauses_and_closes_windows(hall):
    manager = staff(hall, "manager")
    assert "已锁定" in text(manager.post("/manage/windows/2/pin"))
    assert 'data-pin="2" aria-pressed="true"' in text(manager.get("/manage/"))
    assert "解除锁定" in text(manager.post("/manage/windows/2/pin"))
    assert "已开启" in text(manager.post("/manage/windows/2/state/open"))
    assert "暂停服务" in text(manager.post("/manage/windows/2/state/pause"))
    assert "已关闭" in text(manager.post("/manage/windows/2/state/close"))


def test_proposals_can_be_accepted_or_rejected_and_auto_apply_switched(hall, clock):
    manager = staff(hall, "manager")
    page = text(manager.get("/manage/"))
    assert "调度建议" in page and "暂无待处理的调度建议" in page
    store = _store(hall)
    with store.immediate() as conn:
        for to in (["A", "B"], ["B"]):
            conn.execute(
                "INSERT INTO balancer_proposals (created_at, window, from_lines, to_lines, reason_zh,"
                " reason_en, data, state) VALUES (?, 1, '[\"A\"]', ?, 'B 队列等候过长', 'Line B waits too long',"
                " '{}', 'pending')",
                (utc_iso(clock.now()), f'["{to[0]}"' + (f', "{to[1]}"]' if len(to) > 1 else "]")),
            )
    store.close()
    page = text(manager.get("/manage/"))
    ids = re.findall(r'data-proposal="(\d+)"', page)
    assert len(ids) == 2 and "B 队列等候过长" in page
    assert "已采纳" in text(manager.post(f"/manage/proposals/{ids[-1]}/accept"))
    hall_window = hall.call("GET", "/windows", hall.kiosk).get_json()[0]
    assert hall_window["serving"] == ["A", "B"]
    r = manager.post(f"/manage/proposals/{ids[0]}/reject")
    assert r.status_code == 200 and "已忽略" in text(r)
    assert manager.post(f"/manage/proposals/{ids[0]}/accept").status_code == 409
    before = 'data-auto-apply="on"' in text(manager.get("/manage/"))
    manager.post("/manage/balancer/auto")
    assert ('data-auto-apply="on"' in text(manager.get("/manage/"))) is not before
    assert manager.post("/manage/balancer/run").status_code == 200


def test_manage_shows_totals_waits_and_device_health(hall, clock):
    from tongban.queue import printing

    store = _store(hall)
    printing.record_device_status(store, "printer:printer-1", "printer", "ok", "", clock.now())
    printing.record_device_status(store, "bus:rs485-1:3", "display", "offline", "no answer", clock.now())
    store.close()
    _ticket(hall)
    _ticket(hall, "M3")
    page = text(staff(hall, "manager").get("/manage/"))
    assert 'data-device="printer:printer-1"' in page and 'data-device="bus:rs485-1:3"' in page
    devices = page[page.index('class="device-table"') :]
    devices = devices[: devices.index("</table>")]
    # In words, one language a line: the codes and the driver's detail only in attributes.
    readable = re.sub(r"<[^>]+>", " ", devices)
    assert "离线" in readable and "offline" in readable and "正常" in readable and "09:00" in readable
    assert "未在大厅配置中的设备" in readable and "bus:" not in readable and "printer:" not in readable
    assert 'title="no answer"' in devices and "no answer" not in readable
    totals = page[page.index('id="totals"') : page.index('id="matrix"')]
    assert re.search(r'<div class="v">2</div><div class="k">今日取号', totals)


# ---------- day report ----------


def test_a_rating_given_on_the_pad_appears_in_the_day_report_and_its_csv(hall):
    clerk = staff(hall, "clerk1", window=1)
    clerk.post("/window/1/state/open")
    t = _finished(hall, clerk)
    terminal(hall, "pad-1", "/window/1/pad").post(
        "/window/1/pad/rate",
        {"ticket": str(t["id"]), "level": "2", "reasons": ["unclear"], "comment": "材料清单没讲清"},
    )
    manager = staff(hall, "manager")
    page = text(manager.get("/manage/report?day=2026-11-26"))
    bad = page[page.index('id="table-bad_ratings"') : page.index('id="table-transfers"')]
    assert t["number"] in bad and "材料要求没有一次讲清" in bad and "材料清单没讲清" in bad and "不满意" in bad
    assert page.count("<svg") >= 3 and "style=" not in page
    r = manager.get("/manage/report/bad_ratings.csv?day=2026-11-26")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert "tongban-2026-11-26-bad_ratings.csv" in r.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(text(r).lstrip("\ufeff"))))
    assert rows[1][1] == t["number"] and rows[1][6] == "材料要求没有一次讲清"
    assert manager.get("/manage/report/nothing.csv").status_code == 404
    assert "2026-11-25" in text(manager.get("/manage/report?day="))  # today, with yesterday's link
    # A day that is not one, or one whose neighbours are not dates, is a 400 naming the field.
    for day in ("not-a-day", "2026-02-30", "9999-12-31", "0001-01-01", "２０２６-11-26"):
        r = manager.get(f"/manage/report?day={day}")
        assert r.status_code == 400 and "day: expected a date YYYY-MM-DD" in text(r), day


# ---------- hall display ----------


def test_hall_display_shows_calls_lines_and_announces_every_call_and_recall(hall):
    clerk = staff(hall, "clerk1", window=1)
    clerk.post("/window/1/state/open")
    t = _ticket(hall)
    _ticket(hall, "M3")
    clerk.post("/window/1/next")
    display = terminal(hall, "display", "/display/")
    page = text(display.get("/display/"))
    assert f'data-number="{t["number"]}"' in page and "请 A001 号到 1 号窗口办理" in page
    assert re.search(r'data-line="B">\s*<span class="l-prefix">B</span>', page)
    first = re.findall(r'<li data-id="(\d+)"[^>]*data-clips="([^"]*)"', page)
    assert len(first) == 1
    assert ["voice/" + clip for clip in first[0][1].split()] == call_sequence("A001", 1)
    assert 'data-voice-base="/static/voice/"' in page
    clerk.post(f"/window/1/ticket/{t['id']}/recall")
    again = re.findall(r'<li data-id="(\d+)"[^>]*data-kind="(\w+)"', text(display.get("/display/")))
    assert [kind for _id, kind in again] == ["call", "recall"] and int(again[1][0]) > int(again[0][0])
    screen = text(display.get("/display/window/1"))
    assert f'class="w-ticket" data-number="{t["number"]}"' in screen
    assert display.get("/display/window/99").status_code == 404


def _events(chunks):
    """Parse SSE chunks into (event, data) pairs."""
    out = []
    for chunk in chunks:
        for block in chunk.split("\n\n"):
            name = re.search(r"^event: (.+)$", block, re.M)
            if name:
                data = "\n".join(line[6:] for line in block.splitlines() if line.startswith("data: "))
                out.append((name.group(1), data))
    return out


class Listener:
    """Reads an SSE response on its own thread (a streamed Flask response must be iterated by one thread)."""

    def __init__(self, client, url):
        self.chunks: queue.Queue[str] = queue.Queue()
        self.response = None
        self._client, self._url = client, url
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        self.response = self._client.get(self._url, buffered=False)
        try:
            for chunk in self.response.response:
                self.chunks.put(chunk.decode())
        except Exception:  # noqa: BLE001 - the test ends the stream by stopping the broker
            pass

    def until(self, predicate, timeout=10.0) -> list[str]:
        got, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got.append(self.chunks.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                break
            if predicate("".join(got)):
                return got
        raise AssertionError(f"not seen within {timeout} s: {got}")


def test_stream_sends_full_state_first(hall):
    display = terminal(hall, "display", "/display/")
    listener = Listener(display.client, "/display/stream")
    got = listener.until(lambda s: all(f"event: {n}" in s for n in ("windows", "recent", "lines", "announce")))
    assert got[0].startswith("retry:")
    assert listener.response.headers["Content-Type"].startswith("text/event-stream")
    hall.app.extensions["tongban.broker"].stop()


def test_screens_waiting_for_the_next_change_hold_no_database_connection(hall):
    """A hall has dozens of screens open for hours: each holding a connection (and its page cache)
    between changes would grow the web's memory with every screen."""
    display = terminal(hall, "display", "/display/")
    listeners = [Listener(display.client, "/display/stream") for _ in range(3)]
    for listener in listeners:
        listener.until(lambda s: "event: announce" in s)
    stores = hall.app.extensions["tongban.stores"]
    assert wait_for(lambda: stores.lent == 0), f"{stores.lent} connections held"
    hall.app.extensions["tongban.broker"].stop()


def test_a_second_web_process_on_the_same_file_pushes_a_call_made_through_the_first(hall, hall_config, clock):
    """Several server workers: each watches PRAGMA data_version, so a write by one reaches the other's screens."""
    other = create_app({"HALL": hall_config, "DATABASE": str(hall.db), "CLOCK": clock, "TESTING": True})
    client = other.test_client()
    client.set_cookie(TERMINAL_COOKIE, hall.terminals["display"])
    listener = Listener(client, "/display/stream")
    listener.until(lambda s: "event: announce" in s)  # the full state
    clerk = staff(hall, "clerk1", window=1)  # through the first app
    clerk.post("/window/1/state/open")
    t = _ticket(hall)
    clerk.post("/window/1/next")
    # Pushed: this stream sent its full state before the call, so only a push can bring the call.
    # (How soon is measured by bench/bench_sse.py.)
    got = listener.until(lambda s: f'data-number="{t["number"]}"' in s and "event: announce" in s)
    assert {"windows", "announce"} <= {name for name, _ in _events(got)}
    other.extensions["tongban.broker"].stop()
    hall.app.extensions["tongban.broker"].stop()


def test_pad_stream_switches_from_idle_to_the_question(hall, clock):
    clerk = staff(hall, "clerk1", window=1)
    clerk.post("/window/1/state/open")
    pad = terminal(hall, "pad-1", "/window/1/pad")
    listener = Listener(pad.client, "/window/1/pad/stream")
    idle = listener.until(lambda s: "event: pad" in s)
    assert "非常满意" not in "".join(idle)
    t = _ticket(hall)
    clerk.post("/window/1/next")
    clerk.post(f"/window/1/ticket/{t['id']}/start")
    clerk.post(f"/window/1/ticket/{t['id']}/finish")
    got = "".join(listener.until(lambda s: "非常满意" in s))
    assert f'data-deadline="{utc_iso(clock.now() + timedelta(seconds=60))}"' in got
    hall.app.extensions["tongban.broker"].stop()
