"""Text-mode tickets, asserted through the decoder: what the printer would put on paper."""

from tests.tools.escpos_decode import Cut, Feed, Item, Line, QRCode, decode_escpos, printed_text, ticket_view
from tongban.printers import build_ticket_bytes
from tongban.printers.encoding import TextEncoder

from .conftest import config, slip

FULL_WIDTH = slip(
    matter_name_zh="失业登记（跨省通办）：补办、核查，请带身份证。",
    matter_name_en="Unemployment registration (cross-province): bring your ID.",
    line_name_zh="人社业务（A）",
)


def view(cfg, s):
    return ticket_view(build_ticket_bytes(cfg, s), cfg.encoding)


def line(v, text):
    hits = [x for x in v if isinstance(x, Line) and x.text == text]
    assert hits, f"{text!r} not printed; lines: {printed_text(v)}"
    return hits[0]


def test_decoded_ticket_for_a_matter_with_full_width_punctuation():
    cfg = config(paper_mm=80)
    v = view(cfg, FULL_WIDTH)
    assert printed_text(v) == [
        "示例区政务服务中心",
        "Example District Government Service Center",
        "-" * 48,
        "A012",
        "人社业务（A）",
        "Cross-province Services (Social Security)",
        "失业登记（跨省通办）：补办、核查，请带身份证。",
        "Unemployment registration (cross-province):",
        "bring your ID.",
        "-" * 48,
        "前面还有 3 人 / 3 ahead of you",
        "预计等候 10-20 分钟 / about 10-20 min",
        "取号时间：2026-11-26 09:12",
        "Issued 2026-11-26 09:12",
        "办理窗口：3、5、7 号 / Windows 3, 5, 7",
        "",  # the line feed after the QR symbol
        "-" * 48,
        "请留意叫号，过号请到服务台重新排队。",
        "Please watch the screen; if you miss your call,",
        "ask at the service desk.",
        "本票当日有效。Valid today only.",
    ]
    assert line(v, "失业登记（跨省通办）：补办、核查，请带身份证。").align == "center"
    # and the punctuation went out as GB18030 two-byte codes, nothing else
    data = build_ticket_bytes(cfg, FULL_WIDTH)
    assert "：补办、核查，请带身份证。".encode("gb18030") in data


def test_job_starts_with_init_and_chinese_mode_and_ends_with_a_cut():
    items = decode_escpos(build_ticket_bytes(config(), slip()))
    assert items[:2] == [Item("ESC @"), Item("FS &")]
    v = ticket_view(items)
    assert v[-2:] == [Feed(6, "lines"), Cut((0,))]


def test_no_cutter_means_feed_only():
    v = view(config(cut=False), slip())
    assert not any(isinstance(x, Cut) for x in v)
    assert v[-1] == Feed(6, "lines")


def test_number_is_very_large_and_bold_through_gs_bang():
    assert line(view(config(paper_mm=80), slip()), "A012") == Line("A012", "center", (6, 6), True, False)
    assert line(view(config(paper_mm=58), slip()), "A012") == Line("A012", "center", (5, 5), True, False)
    # a long number shrinks rather than wrapping: 8 characters on 58 mm (32 columns)
    assert line(view(config(paper_mm=58), slip(number="AB012345")), "AB012345").size == (4, 4)


def test_native_qr_is_centred_by_esc_a_before_gs_paren_k():
    cfg = config()
    items = decode_escpos(build_ticket_bytes(cfg, slip()))
    first_qr = next(i for i, it in enumerate(items) if it.cmd == "GS ( k")
    last_align = [it for it in items[:first_qr] if it.cmd == "ESC a"][-1]
    assert last_align == Item("ESC a", 1)
    qr = [x for x in ticket_view(items) if isinstance(x, QRCode)]
    assert qr == [QRCode("http://hall.example/t/A012-7f3k", 8, "M", "center")]


def test_offline_hall_qr_carries_the_ticket_text_in_utf8():
    text = "示例区政务服务中心 A012 跨省通办（社保） 2026-11-26 09:12 #4711"
    qr = [x for x in view(config(), slip(qr_text=text)) if isinstance(x, QRCode)]
    assert qr[0].data == text
    assert qr[0].module * 57 <= 576  # still fits the paper at its module size


def test_no_qr_when_there_is_no_qr_text():
    assert not any(isinstance(x, QRCode) for x in view(config(), slip(qr_text="")))


def test_58_and_80_mm_layouts_fill_their_own_width_and_never_overflow():
    enc = TextEncoder()
    for mm, cols in ((58, 32), (80, 48)):
        v = view(config(paper_mm=mm), FULL_WIDTH)
        lines = [x for x in v if isinstance(x, Line)]
        assert "-" * cols in [ln.text for ln in lines]  # rules span the paper
        for ln in lines:
            assert enc.columns(ln.text) * ln.size[0] <= cols, (mm, ln)
    narrow = printed_text(view(config(paper_mm=58), FULL_WIDTH))
    wide = printed_text(view(config(paper_mm=80), FULL_WIDTH))
    # 58 mm: the hall name in double height only, English wraps, zh/en facts on two lines
    assert line(view(config(paper_mm=58), slip()), "示例区政务服务中心").size == (1, 2)
    assert line(view(config(paper_mm=80), slip()), "示例区政务服务中心").size == (2, 2)
    assert "Example District Government" in narrow and "Service Center" in narrow
    assert "预计等候 10-20 分钟" in narrow and "about 10-20 min" in narrow
    assert "预计等候 10-20 分钟 / about 10-20 min" in wide
    qr58 = next(x for x in view(config(paper_mm=58), slip()) if isinstance(x, QRCode))
    assert qr58.module == 6


def test_reprint_is_marked_bu_da_in_large_inverted_type():
    v = view(config(), slip(reprint=True))
    banner = line(v, "补打 REPRINT")
    assert (banner.size, banner.bold, banner.invert, banner.align) == ((2, 2), True, True, "center")
    texts = printed_text(v)
    assert texts.index("补打 REPRINT") < texts.index("A012")
    assert not line(v, "A012").invert  # inversion switched off again
    assert "补打 REPRINT" not in printed_text(view(config(), slip()))


def test_nobody_ahead_and_no_window_serving_yet():
    texts = printed_text(view(config(), slip(people_ahead=0, windows=[])))
    assert "前面没有人，请留意叫号 / You are next" in texts
    assert texts[texts.index("办理窗口：请留意叫号屏") + 1] == "Window: see the call screen"
    assert not any(t.startswith("预计等候") for t in texts)


def test_one_window_and_equal_estimate():
    texts = printed_text(view(config(), slip(windows=[4], estimate_low_min=15, estimate_high_min=15)))
    assert "办理窗口：4 号 / Window 4" in texts
    assert "预计等候 15 分钟 / about 15 min" in texts


def test_gbk_printer_gets_the_same_ticket():
    assert printed_text(view(config(encoding="gbk"), FULL_WIDTH)) == printed_text(view(config(), FULL_WIDTH))


def test_big5_printer_gets_traditional_labels_and_no_question_marks():
    s = slip(
        hall_name_zh="示例區政務服務中心",
        line_name_zh="跨省通辦（社保）",
        matter_name_zh="養老保險轉移：跨省",
        reminders=["請留意叫號，過號請重新排隊。"],
        reprint=True,
    )
    texts = printed_text(view(config(encoding="big5"), s))
    for expected in (
        "補打 REPRINT",
        "示例區政務服務中心",
        "跨省通辦（社保）",
        "養老保險轉移：跨省",
        "前面還有 3 人 / 3 ahead of you",
        "預計等候 10-20 分鐘 / about 10-20 min",
        "取號時間：2026-11-26 09:12",
        "辦理窗口：3、5、7 號 / Windows 3, 5, 7",
        "請留意叫號，過號請重新排隊。",
    ):
        assert expected in texts
    assert not any("?" in t for t in texts)


def test_control_characters_in_config_strings_are_not_executed():
    v = view(config(), slip(hall_name_zh="示例\x1b@区\x1dV\x00政务服务中心"))
    assert printed_text(v)[0] == "示例@区V政务服务中心"


def test_text_ticket_is_under_2_kb():
    for mm in (58, 80):
        assert len(build_ticket_bytes(config(paper_mm=mm), FULL_WIDTH)) < 2048
