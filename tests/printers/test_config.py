"""[[printers]] validation: every problem reported with its path, unknown keys refused."""

import pytest

from tongban.printers import PrinterConfig, PrinterConfigError, parse_printer_config, parse_printer_url


def parse(**entry):
    entry = {"id": "kiosk-1", "url": "tcp://192.0.2.10:9100", **entry}
    return parse_printer_config(entry, "printers[0]")


def test_minimal_entry_gets_the_documented_defaults():
    cfg, errors = parse()
    assert errors == []
    assert cfg == PrinterConfig(
        id="kiosk-1", url="tcp://192.0.2.10:9100", paper_mm=80, encoding="gb18030", cut=True, mode="text", timeout_s=3.0
    )


def test_full_entry():
    cfg, errors = parse(
        url="serial:///dev/ttyUSB0?baudrate=115200", paper_mm=58, encoding="big5", cut=False, mode="image", timeout_s=2
    )
    assert errors == []
    assert (cfg.paper_mm, cfg.encoding, cfg.cut, cfg.mode, cfg.timeout_s, cfg.dots) == (
        58,
        "big5",
        False,
        "image",
        2.0,
        384,
    )


def test_paper_width_error_reads_like_the_rest_of_check_config():
    cfg, errors = parse(paper_mm=70)
    assert cfg is None
    assert errors == ["printers[0].paper_mm: 70 is not allowed (expected 58 or 80)"]


def test_every_problem_is_reported_at_once():
    _, errors = parse_printer_config(
        {
            "id": "Kiosk 1",
            "url": "usb://zz",
            "paper_mm": True,
            "encoding": "utf-8",
            "cut": "yes",
            "mode": "pdf",
            "timeout_s": 0,
            "papermm": 80,
        },
        "printers[2]",
    )
    assert errors == [
        "printers[2].papermm: unknown key"
        " (expected one of id, url, paper_mm, encoding, cut, mode, timeout_s, start_margin_s)",
        "printers[2].id: 'Kiosk 1' is not allowed (expected [a-z0-9-]+)",
        "printers[2].url: 'zz' is not VID:PID in hex (expected usb://0416:5011)",
        "printers[2].paper_mm: is a boolean (true) (expected 58 or 80)",
        "printers[2].encoding: 'utf-8' is not allowed (expected gb18030, gbk or big5)",
        "printers[2].cut: is a string ('yes') (expected true or false)",
        "printers[2].mode: 'pdf' is not allowed (expected text or image)",
        "printers[2].timeout_s: is 0 (expected more than 0 and at most 120 s)",
    ]


def test_missing_id_and_url():
    _, errors = parse_printer_config({}, "printers[0]")
    assert [e.split(":")[0] for e in errors] == ["printers[0].id", "printers[0].url"]


def test_not_a_table():
    assert parse_printer_config("tcp://x", "printers[0]") == (
        None,
        ["printers[0]: is a string ('tcp://x') (expected [[printers]] with id and url)"],
    )


@pytest.mark.parametrize(
    "url, fields",
    [
        ("tcp://192.0.2.10:9100", {"scheme": "tcp", "host": "192.0.2.10", "port": 9100}),
        ("tcp://printer-1", {"scheme": "tcp", "host": "printer-1", "port": 9100}),
        ("serial:///dev/ttyUSB0?baudrate=9600", {"scheme": "serial", "path": "/dev/ttyUSB0", "baudrate": 9600}),
        ("serial:///dev/ttyS0?baudrate=115200&rtscts=1", {"path": "/dev/ttyS0", "baudrate": 115200, "rtscts": True}),
        ("usb://0416:5011", {"scheme": "usb", "vendor_id": 0x0416, "product_id": 0x5011, "out_ep": None}),
        (
            "usb://04b8:0e15?out_ep=0x03&in_ep=0x81",
            {"vendor_id": 0x04B8, "product_id": 0x0E15, "in_ep": 0x81, "out_ep": 3},
        ),
        ("file:///dev/usb/lp0", {"scheme": "file", "path": "/dev/usb/lp0"}),
        ("cups://Kiosk_Printer", {"scheme": "cups", "name": "Kiosk_Printer"}),
        ("dummy://", {"scheme": "dummy", "name": "", "dummy_status": "ok"}),
        ("dummy://k1?status=paper_end", {"name": "k1", "dummy_status": "paper_end"}),
    ],
)
def test_urls(url, fields):
    t = parse_printer_url(url)
    assert {k: getattr(t, k) for k in fields} == fields


@pytest.mark.parametrize(
    "url, message",
    [
        ("lpt://1", "scheme 'lpt' is not supported"),
        ("192.0.2.10:9100", "is not a printer URL"),
        ("tcp://:9100", "tcp:// needs a host"),
        ("tcp://host:99999", "is not a number 1-65535"),
        ("tcp://host?x=1", "unknown parameter 'x'"),
        ("serial:///dev/ttyUSB0?baudrate=9601", "baudrate=9601 is not allowed"),
        ("serial:///dev/ttyUSB0?baud=9600", "unknown parameter 'baud'"),
        ("serial:///dev/ttyUSB0?rtscts=maybe", "is not a boolean"),
        ("usb://1234", "is not VID:PID in hex"),
        ("usb://0416:5011?out_ep=300", "is not an endpoint address"),
        ("file://dev/usb/lp0", "file:// must be local"),
        ("cups://", "is not a CUPS queue name"),
        ("dummy://?status=broken", "is not a printer state"),
    ],
)
def test_bad_urls(url, message):
    with pytest.raises(PrinterConfigError) as e:
        parse_printer_url(url)
    assert any(message in m for m in e.value.errors), e.value.errors
