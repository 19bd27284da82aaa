"""The citizens' kiosk through Flask's test client (docs/kiosk.md): screens, the single-use confirm form,
printing and its fallback, closed states, pinyin search. The browser behaviour is in tests/browser."""

from __future__ import annotations

import re
from datetime import datetime
from html import escape

import pytest

from tongban.config import load_hall_config, parse_hall_config
from tongban.queue import printing
from tongban.queue.accounts import Accounts
from tongban.queue.search import MatterSearch
from tongban.queue.service import HallService
from tongban.queue.store import Store

from .apiclient import make_hall_client
from .conftest import SHANGHAI, small_hall_doc
from .test_staff_pages import staff

DEMO = load_hall_config("config/demo-hall.toml")


def _with_printer(doc: dict) -> dict:
    doc["printers"] = [{"id": "printer-1", "url": "dummy://"}]
    doc["kiosks"] = [{"id": "kiosk-1", "name": "1号取号机", "printer": "printer-1"}]
    return doc


@pytest.fixture
def hall(tmp_path, hall_config, clock):
    """The small hall; kiosk-1 is enrolled but not in the hall file, so it has no printer."""
    return make_hall_client(tmp_path, hall_config, clock)


@pytest.fixture
def printer_hall(tmp_path, clock):
    return make_hall_client(tmp_path, parse_hall_config(_with_printer(small_hall_doc()), "printer-hall"), clock)


def kiosk(hall):
    client = hall.app.test_client()
    assert client.get(f"/enrol?token={hall.kiosk}").status_code == 302
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


def confirm_form(client, path: str) -> dict:
    """The confirm screen's form fields, as the browser would post them."""
    html = text(client.get(path, headers={"HX-Request": "true"}))
    form = html[html.index('<form class="k-take"') :]
    form = form[: form.index("</form>")]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    assert {"csrf_token", "key"} <= set(fields)
    return fields


def take(client, fields: dict, *, htmx: bool = True, query: str = ""):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"/kiosk/kiosk-1/tickets{query}", data=fields, headers=headers)


def number_on(response) -> str:
    found = re.findall(r'id="k-number">([A-Z]\d+)<', text(response))
    assert found, text(response)[:2000]
    return found[0]


def store_of(hall) -> Store:
    return Store(hall.app.config["DATABASE"])


def service_of(hall) -> HallService:
    return HallService(store_of(hall), hall.app.config["HALL"], hall.app.config["CLOCK"])


# ---------- pinyin ----------


def test_pinyin_initials_find_matters_computed_once_at_start(hall):
    index = MatterSearch.for_config(DEMO)
    names = {m.code: m.name_zh for m in DEMO.matters}
    assert names[index.search("sydj", keyboard=True)[0]] == "失业登记"
    assert index.search("SYDJ", keyboard=True) == index.search("sydj", keyboard=True)  # case, stray characters
    # 住房公积金…: a match at the start comes first
    assert names[index.search("zfgjj", keyboard=True)[0]].startswith("住房公积金")
    assert "跨省通办材料寄递（EMS 政务专递）" in {names[c] for c in index.search("ems", keyboard=True)}
    assert "j" in index.next_letters("syd")
    assert index.search("qqqq", keyboard=True) == [] and index.search("", keyboard=True) == []
    assert isinstance(hall.app.extensions["tongban.matter_search"], MatterSearch)


def test_search_screen_types_letters_and_dims_keys_that_find_nothing(hall):
    client = kiosk(hall)
    html = text(client.get("/kiosk/kiosk-1/search?q=sy"))
    assert "失业登记" in html and "SY" in html
    assert re.search(r'class="k-key dead"[^>]*data-key="q"', html)  # nothing continues "syq"
    assert 'hx-get="/kiosk/kiosk-1/search?q=syd"' in html  # d does (失业登记)
    assert 'hx-get="/kiosk/kiosk-1/search?q=s"' in html  # delete
    assert "没有找到" in text(client.get("/kiosk/kiosk-1/search?q=zzzz"))


# ---------- screens ----------


def test_home_shows_every_line_with_its_waiting_count_estimate_and_notices(tmp_path, clock):
    hall = make_hall_client(tmp_path, DEMO, clock)
    client = kiosk(hall)
    service = service_of(hall)
    for window in DEMO.windows:  # every window at work: every line has minutes to tell
        service.window_action(window.number, "open", clerk=f"clerk{window.number}")
    service.take_ticket(line="A")
    service.take_ticket(line="A")
    html = text(client.get("/kiosk/kiosk-1"))
    for line in DEMO.lines:
        assert f'data-line="{line.prefix}"' in html and line.name_zh in html and escape(line.name_en) in html
    card_a = html[html.index('data-line="A"') : html.index('data-line="B"')]
    assert "等候 2 人" in card_a and "2 waiting" in card_a and "分钟" in card_a
    assert "本大厅设跨省通办专窗" in html  # the hall's notices
    assert 'sse-connect="/kiosk/kiosk-1/live"' in html and 'sse-swap="lines"' in html
    assert "绿色通道" in html


def test_one_url_answers_the_page_or_its_fragment(hall):
    client = kiosk(hall)
    page = client.get("/kiosk/kiosk-1/departments")
    fragment = client.get("/kiosk/kiosk-1/departments", headers={"HX-Request": "true"})
    assert text(page).lstrip().lower().startswith("<!doctype html>") and 'id="kiosk"' in text(page)
    assert text(fragment).lstrip().startswith('<div id="kiosk"') and "<html" not in text(fragment)
    assert "HX-Request" in fragment.headers["Vary"]
    assert "style=" not in text(page) and "<script>" not in text(page)  # CSP: no inline styles or scripts


def test_english_and_elder_mode_travel_in_the_url_not_a_cookie(hall):
    client = kiosk(hall)
    html = text(client.get("/kiosk/kiosk-1/departments?lang=en&elder=1"))
    assert 'class="kiosk elder lang-en"' in html
    assert "Find by department" in html.split("按部门查找事项")[0]  # English first, Chinese under it
    assert 'href="/kiosk/kiosk-1/department/' not in html
    assert 'hx-get="/kiosk/kiosk-1/departments/rsj?lang=en&amp;elder=1"' in html
    # The idle timer's way home resets both for the next citizen.
    assert 'data-home-url="/kiosk/kiosk-1"' in html
    assert client.get_cookie("lang") is None


def test_matter_guide_is_the_one_time_notice_before_the_ticket(hall):
    client = kiosk(hall)
    html = text(client.get("/kiosk/kiosk-1/matters/M3"))
    assert "正常退休提取住房公积金" in html and "一次性告知" in html
    assert "身份证" in html and "退休证" in html  # materials
    assert "3 个工作日" in html and "不收费" in html and "代收代办" in html  # time limit, fee, mode
    assert 'name="matter" value="M3"' in html and "确认取号" in html
    assert client.get("/kiosk/kiosk-1/matters/NOPE").status_code == 404


def test_departments_page_matters_in_pages(tmp_path, clock):
    hall = make_hall_client(tmp_path, DEMO, clock)
    client = kiosk(hall)
    first = text(client.get("/kiosk/kiosk-1/departments/scjg"))
    assert first.count('class="k-matter"') == 8 and "第 1 / 3 页" in first
    elder = text(client.get("/kiosk/kiosk-1/departments/scjg?elder=1"))
    assert elder.count('class="k-matter"') == 4 and "第 1 / 6 页" in elder  # at most four choices a page
    last = text(client.get("/kiosk/kiosk-1/departments/scjg?page=3"))
    assert last.count('class="k-matter"') == 7


def test_elder_mode_shows_four_choices_a_page_in_one_language(tmp_path, clock):
    hall = make_hall_client(tmp_path, DEMO, clock)
    client = kiosk(hall)
    home = text(client.get("/kiosk/kiosk-1?elder=1"))
    assert home.count("data-line=") == 4 and "第 1 / 2 页" in home  # the demo hall's five lines
    assert text(client.get("/kiosk/kiosk-1?elder=1&page=2")).count("data-line=") == 1
    assert text(client.get("/kiosk/kiosk-1")).count("data-line=") == 5  # normal mode: all on one page
    assert text(client.get("/kiosk/kiosk-1/departments?elder=1")).count('class="k-dept"') == 4
    assert text(client.get("/kiosk/kiosk-1/search?q=s&elder=1")).count('class="k-matter"') == 4
    # No second language under the first: Chinese only, or (chosen) English only.
    kiosk_part = home.split('id="kiosk"', 1)[1].split('id="kiosk-wait"', 1)[0]
    assert 'class="s"' not in kiosk_part and "Choose the service" not in kiosk_part
    english = text(client.get("/kiosk/kiosk-1?elder=1&lang=en")).split('id="kiosk"', 1)[1].split('id="kiosk-wait"')[0]
    assert "Choose the service" in english and "请选择您要办理的业务" not in english


# ---------- taking a ticket ----------


def test_the_same_confirm_form_posted_twice_gives_the_same_ticket(printer_hall):
    client = kiosk(printer_hall)
    fields = confirm_form(client, "/kiosk/kiosk-1/lines/A")
    first = take(client, {**fields, "line": "A"})
    again = take(client, {**fields, "line": "A"})
    plain = take(client, {**fields, "line": "A"}, htmx=False)  # a resend without htmx, too
    assert number_on(first) == number_on(again) == number_on(plain) == "A001"
    store = store_of(printer_hall)
    assert store.one("SELECT COUNT(*) FROM tickets")[0] == 1
    assert store.one("SELECT COUNT(*) FROM print_jobs")[0] == 1  # and one slip, not three
    # A new confirm screen is a new request: a second ticket.
    fields2 = confirm_form(client, "/kiosk/kiosk-1/lines/A")
    assert fields2["key"] != fields["key"]
    assert number_on(take(client, {**fields2, "line": "A"})) == "A002"


def test_taking_a_ticket_needs_the_csrf_token_and_a_key(hall):
    client = kiosk(hall)
    fields = confirm_form(client, "/kiosk/kiosk-1/lines/A")
    assert take(client, {"key": fields["key"], "line": "A"}).status_code == 400
    assert take(client, {"csrf_token": fields["csrf_token"], "line": "A"}).status_code == 400
    assert take(client, {**fields, "key": "bad key!", "line": "A"}).status_code == 400
    assert store_of(hall).one("SELECT COUNT(*) FROM tickets")[0] == 0


def test_by_matter_the_ticket_names_the_matter(hall):
    client = kiosk(hall)
    fields = confirm_form(client, "/kiosk/kiosk-1/matters/M1")
    response = take(client, fields)
    assert number_on(response) == "A001" and "失业登记" in text(response)
    ticket = store_of(hall).one("SELECT * FROM tickets")
    assert ticket["matter"] == "M1" and ticket["kiosk"] == "kiosk-1" and not ticket["green"]


def test_printing_polls_the_job_then_shows_the_ticket_and_goes_home_after_idle(printer_hall):
    client = kiosk(printer_hall)
    for number in (1, 2):
        service_of(printer_hall).window_action(number, "open", clerk=f"clerk{number}")
    response = take(client, {**confirm_form(client, "/kiosk/kiosk-1/lines/A"), "line": "A"})
    html = text(response)
    assert "正在打印" in html and 'hx-trigger="load delay:500ms"' in html
    poll = re.search(r'hx-get="(/kiosk/kiosk-1/tickets/\d+/print/\d+)"', html).group(1)
    assert 'data-idle-s="0"' in html  # no idle timeout while printing
    store = store_of(printer_hall)
    clock = printer_hall.app.config["CLOCK"]
    assert "正在打印" in text(client.get(poll, headers={"HX-Request": "true"}))
    job = printing.claim_next(store, clock.now())
    printing.complete(store, job["id"], clock.now(), ok=True, status="ok")
    done = text(client.get(poll, headers={"HX-Request": "true"}))
    assert "请取走号票" in done and "A001" in done and 'data-idle-s="30"' in done
    assert "qr-svg" not in done
    # The ticket screen: people ahead, the estimate, the windows, what to do.
    assert "前面还有" in done and "预计等候" in done and "1、2 号窗口（一楼）" in done and "请留意" in done


def test_a_print_job_past_its_deadline_gives_the_full_screen_ticket_with_a_qr_code(printer_hall):
    client = kiosk(printer_hall)
    html = text(take(client, {**confirm_form(client, "/kiosk/kiosk-1/lines/B"), "line": "B"}))
    poll = re.search(r'hx-get="(/kiosk/kiosk-1/tickets/\d+/print/\d+)"', html).group(1)
    printer_hall.app.config["CLOCK"].advance(seconds=printing.DEFAULT_DEADLINE_S + 1)
    failed = text(client.get(poll, headers={"HX-Request": "true"}))
    assert "号票未能打印" in failed and "请记住您的号码，或到咨询台补打" in failed and "B001" in failed
    assert "Please remember your number" in failed
    assert "拍下" not in failed and "我已拍照" not in failed  # nobody is asked to photograph a screen
    assert '<svg class="qr-svg"' in failed
    # It goes home by itself after 60 s (twice the idle time), so the next citizen finds the home screen.
    assert 'data-idle-s="60"' in failed
    again = text(client.get(poll + "?idle=5", headers={"HX-Request": "true"}))
    assert 'data-idle-s="10"' in again
    # The number stays valid: it is still waiting in its line.
    store = store_of(printer_hall)
    assert store.one("SELECT state FROM tickets WHERE number = 'B001'")["state"] == "waiting"


def test_with_no_devices_process_the_kiosk_poll_fails_the_job_and_the_console_gets_the_alert(printer_hall):
    """No worker runs: the kiosk's poll past the deadline shows the fallback and fails the job, and
    a clerk's console names the ticket to reprint (docs/architecture.md §Print jobs)."""
    client = kiosk(printer_hall)
    html = text(take(client, {**confirm_form(client, "/kiosk/kiosk-1/lines/B"), "line": "B"}))
    poll = re.search(r'hx-get="(/kiosk/kiosk-1/tickets/\d+/print/(\d+))"', html)
    printer_hall.app.config["CLOCK"].advance(seconds=printing.DEFAULT_DEADLINE_S)
    assert "号票未能打印" in text(client.get(poll.group(1), headers={"HX-Request": "true"}))
    store = store_of(printer_hall)
    job = store.one("SELECT state, status FROM print_jobs WHERE id = ?", (int(poll.group(2)),))
    assert tuple(job) == ("failed", "timeout")
    console = staff(printer_hall, "clerk1", window=1)
    page = text(console.get("/window/1"))
    assert "打印机 1号取号机 未能按时出票，B001 号需补打" in page
    assert len(printing.open_alerts(store)) == 1  # the poll and the console each looked: one alert


def test_a_job_its_worker_holds_stays_printing_on_the_kiosk_until_the_lease_runs_out(printer_hall):
    client = kiosk(printer_hall)
    html = text(take(client, {**confirm_form(client, "/kiosk/kiosk-1/lines/A"), "line": "A"}))
    poll = re.search(r'hx-get="(/kiosk/kiosk-1/tickets/\d+/print/\d+)"', html).group(1)
    store = store_of(printer_hall)
    clock = printer_hall.app.config["CLOCK"]
    assert printing.claim_next(store, clock.now(), timeout_s=3) is not None  # then the devices process dies
    clock.advance(seconds=printing.DEFAULT_DEADLINE_S + 1)
    assert "正在打印" in text(client.get(poll, headers={"HX-Request": "true"}))  # the worker may yet answer
    clock.advance(seconds=3)
    failed = text(client.get(poll, headers={"HX-Request": "true"}))
    assert "号票未能打印" in failed and '<svg class="qr-svg"' in failed
    assert [a["message_zh"] for a in printing.open_alerts(store)] == [
        "打印机 1号取号机 打印中断（设备进程已停止），A001 号需补打"
    ]


def test_the_console_alone_notices_a_reprint_nobody_printed(printer_hall):
    console = staff(printer_hall, "clerk1", window=1)
    client = kiosk(printer_hall)
    take(client, {**confirm_form(client, "/kiosk/kiosk-1/lines/A"), "line": "A"})
    store = store_of(printer_hall)
    clock = printer_hall.app.config["CLOCK"]
    kiosk_job = printing.claim_next(store, clock.now())
    printing.complete(store, kiosk_job["id"], clock.now(), ok=True, status="ok")
    assert "已发送补打" in text(console.post("/window/1/reprint", {"number": "A001", "printer": "printer-1"}))
    clock.advance(seconds=printing.DEFAULT_DEADLINE_S + 1)  # no kiosk polls a reprint
    assert "A001 号需补打" in text(console.get("/window/1"))


def test_a_transferred_ticket_says_on_the_kiosk_where_it_went_and_why(hall):
    client = kiosk(hall)
    taken = take(client, {**confirm_form(client, "/kiosk/kiosk-1/lines/A"), "line": "A"})
    service = service_of(hall)
    ticket = next(t for t in service.waiting() if t.number == number_on(taken))
    assert 'id="k-transferred"' not in text(taken)
    service.act(ticket.id, "transfer", to_line="B", reason="取错队列", reason_key="transfer_reason_wrong_line")
    service.store.close()
    html = text(client.get(f"/kiosk/kiosk-1/tickets/{ticket.id}"))
    moved = html[html.index('id="k-transferred"') :].split("</p>")[0]
    assert "已转到 B 线" in moved and "原因：取错队列" in moved
    assert "Moved to line B" in moved and "Reason: Took a ticket in the wrong line" in moved


def test_a_kiosk_without_a_printer_shows_the_ticket_and_qr_at_once(hall):
    client = kiosk(hall)
    html = text(take(client, {**confirm_form(client, "/kiosk/kiosk-1/lines/A"), "line": "A"}))
    assert "本机不打印号票" in html and '<svg class="qr-svg"' in html and 'data-idle-s="0"' in html
    assert store_of(hall).one("SELECT COUNT(*) FROM print_jobs")[0] == 0


def test_the_qr_holds_number_line_hall_and_id_or_the_status_link(hall):
    service = service_of(hall)
    ticket = service.take_ticket(line="B").ticket
    offline = service.qr_text(ticket)
    assert "B001" in offline and "公积金" in offline and "测试大厅" in offline and f"{ticket.id}" in offline
    doc = small_hall_doc()
    doc["hall"]["public_url"] = "http://10.0.0.5:8000/"
    online = HallService(service.store, parse_hall_config(doc, "x"), service.clock)
    assert online.qr_text(ticket) == f"http://10.0.0.5:8000/t/{ticket.token}"


def test_a_kiosk_acts_only_as_itself(hall):
    store = store_of(hall)
    Accounts(store, hall.app.config["CLOCK"]).add_terminal("kiosk-2", "kiosk", "2号取号机")
    client = kiosk(hall)
    assert client.get("/kiosk/kiosk-2").status_code == 403
    ticket = service_of(hall).take_ticket(line="A", kiosk="kiosk-2").ticket
    assert client.get(f"/kiosk/kiosk-1/tickets/{ticket.id}").status_code == 404
    assert hall.app.test_client().get("/kiosk/kiosk-1").status_code == 302  # not enrolled: to the login


def test_idle_seconds_default_to_30_and_can_be_set_per_request_or_app(tmp_path, hall_config, clock):
    hall = make_hall_client(tmp_path, hall_config, clock)
    client = kiosk(hall)
    assert 'data-idle-s="0"' in text(client.get("/kiosk/kiosk-1"))  # home in Chinese: nothing to reset
    assert 'data-idle-s="30"' in text(client.get("/kiosk/kiosk-1?lang=en"))
    assert 'data-idle-s="30"' in text(client.get("/kiosk/kiosk-1/departments"))
    html = text(client.get("/kiosk/kiosk-1/departments?idle=3"))
    assert 'data-idle-s="3"' in html and "idle=3" in html  # and it travels on
    hall.app.config["KIOSK_IDLE_S"] = 12
    assert 'data-idle-s="12"' in text(client.get("/kiosk/kiosk-1/search"))


def test_green_channel_is_staff_confirmed_not_self_service(hall):
    client = kiosk(hall)
    assert "工作人员确认" in text(client.get("/kiosk/kiosk-1/green"))
    fields = confirm_form(client, "/kiosk/kiosk-1/lines/A")
    take(client, {**fields, "line": "A", "green": "1"})
    assert store_of(hall).one("SELECT green FROM tickets")["green"] == 0
    refused = hall.call("POST", "/tickets", hall.kiosk, json={"line": "A", "green": True})
    assert refused.status_code == 403


def test_the_live_stream_sends_the_line_buttons_first(hall):
    client = kiosk(hall)
    response = client.get("/kiosk/kiosk-1/live", buffered=False)
    assert response.mimetype == "text/event-stream"
    chunks = iter(response.response)
    assert next(chunks).decode().startswith("retry:")
    first = next(chunks).decode()
    assert first.startswith("event: lines\n") and 'data-line="A"' in first and 'data-line="B"' in first
    response.close()


# ---------- closed states ----------

THURSDAY = datetime(2026, 11, 26, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    "when, title, then",
    [
        (THURSDAY.replace(hour=7), "尚未开始办公", "08:30 后回来取号"),
        (THURSDAY.replace(hour=12, minute=30), "午间休息，暂停取号", "14:00 后回来取号"),
        (THURSDAY.replace(hour=18), "今日办公已结束", "明天 08:30 起取号"),
        (datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI), "今日不办公", "周一 08:30 起取号"),
        (THURSDAY.replace(hour=16, minute=45), "今日取号已截止", "明天 08:30 起取号"),
    ],
    ids=["not_yet_open", "lunch_break", "closed_for_day", "closed_today", "past_last_issue"],
)
def test_closed_states_are_explained_with_what_to_do_instead(hall, when, title, then):
    client = kiosk(hall)
    fields = confirm_form(client, "/kiosk/kiosk-1/matters/M1")  # the screen was open a moment ago
    hall.app.config["CLOCK"].set(when)
    explained = text(client.get("/kiosk/kiosk-1/lines/A"))
    assert title in explained and then in explained and "咨询台" in explained and "确认取号" not in explained
    refused = take(client, fields)
    assert refused.status_code == 200 and title in text(refused) and 'id="k-number"' not in text(refused)
    assert store_of(hall).one("SELECT COUNT(*) FROM tickets")[0] == 0
    assert store_of(hall).one("SELECT COUNT(*) FROM take_requests")[0] == 0  # the key can be used later
    home = text(client.get("/kiosk/kiosk-1"))
    assert 'class="k-line unavailable"' in home
    assert ('id="k-hall-closed"' in home) == (title != "今日取号已截止")  # the hall, not one line, is closed
    english = text(client.get("/kiosk/kiosk-1/lines/A?lang=en"))
    assert "What you can do" in english and "information desk" in english


def test_quota_reached_says_so_and_where_else_to_go(tmp_path, clock):
    doc = small_hall_doc()
    doc["district_windows"] = [
        {
            "hall": "东苑街道便民服务中心 / Dongyuan Centre",
            "address": "东苑路 12 号",
            "window": "1 号窗口",
            "phone": "0571-12345678",
            "hours": "周一至周五",
        }
    ]
    hall = make_hall_client(tmp_path, parse_hall_config(doc, "quota-hall"), clock)
    client = kiosk(hall)
    fields = confirm_form(client, "/kiosk/kiosk-1/lines/B")
    service = service_of(hall)
    for _ in range(5):  # line B issues 5 a day
        service.take_ticket(line="B")
    html = text(client.get("/kiosk/kiosk-1/lines/B"))
    assert "今日号已取完" in html and "每日限 5 个号" in html and "明天 08:30 起取号" in html
    assert "东苑街道便民服务中心" in html and "0571-12345678" in html
    refused = text(take(client, {**fields, "line": "B"}))
    assert "今日号已取完" in refused
    assert "今日号已取完" in text(client.get("/kiosk/kiosk-1"))  # the button says so too
    assert "All tickets for today are taken" in text(client.get("/kiosk/kiosk-1/lines/B?lang=en"))


def test_no_lunch_banner_where_tickets_are_issued_over_lunch(tmp_path, clock):
    doc = small_hall_doc()
    doc["hall"]["issue_during_lunch"] = True
    hall = make_hall_client(tmp_path, parse_hall_config(doc, "lunch-hall"), clock)
    clock.set(THURSDAY.replace(hour=12, minute=30))
    html = text(kiosk(hall).get("/kiosk/kiosk-1"))
    assert 'id="k-hall-closed"' not in html and "unavailable" not in html


def test_a_line_closed_by_the_manager_gives_the_reason(hall):
    client = kiosk(hall)
    with store_of(hall).immediate() as conn:
        conn.execute("UPDATE lines SET closed = 1, closed_reason = '系统维护，约 10 分钟' WHERE prefix = 'A'")
    html = text(client.get("/kiosk/kiosk-1/lines/A"))
    assert "该业务暂停取号" in html and "系统维护，约 10 分钟" in html and "其他业务仍可正常取号" in html
    assert "确认取号" in text(client.get("/kiosk/kiosk-1/lines/B"))
