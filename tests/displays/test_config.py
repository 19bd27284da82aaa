"""`[[buses]]` validation: every problem named by its path, unknown keys refused."""

import tomllib

import pytest

from tongban.displays import get_preset, parse_bus_config, parse_frame_spec

HALL = """
[[buses]]
id = "floor1"
url = "socket://127.0.0.1:4001"
baudrate = 19200
parity = "even"
timeout_s = 0.3
rs485 = true
preset = "sum8-ff"
poll_interval_ms = 150
devices = [
  {address = 1, kind = "window", window = 1},
  {address = 2, kind = "keypad", window = 1},
  {address = 3, kind = "window", window = 2},
  {address = 30, kind = "hall", rows = 6, name = "东区综合屏"},
]
"""


def test_a_full_entry_parses():
    entry = tomllib.loads(HALL)["buses"][0]
    cfg, errors = parse_bus_config(entry, "buses[0]")
    assert errors == []
    assert (cfg.id, cfg.url, cfg.baudrate, cfg.parity, cfg.timeout_s, cfg.rs485) == (
        "floor1",
        "socket://127.0.0.1:4001",
        19200,
        "E",
        0.3,
        True,
    )
    assert cfg.frame is get_preset("sum8-ff")
    assert cfg.pacing_ms == get_preset("sum8-ff").pacing_ms  # the preset's pacing unless set
    assert [d.address for d in cfg.keypads] == [2]
    assert [d.address for d in cfg.for_window(1)] == [1, 2]
    assert cfg.halls[0].rows == 6 and cfg.halls[0].name == "东区综合屏"
    assert cfg.serial_kwargs()["parity"] == "E"


def test_the_issue_example_error():
    entry = {
        "id": "b",
        "url": "loop://",
        "preset": "sum8-ff",
        "devices": [{"address": 1, "kind": "window", "window": 1}, {"address": 2, "kind": "lamp"}],
    }
    cfg, errors = parse_bus_config(entry, "buses[0]")
    assert cfg is None
    assert errors == ["buses[0].devices[1].kind: 'lamp' is not allowed (expected window, hall or keypad)"]


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"colour": "red"}, "buses[2].colour: unknown key (expected one of id, url,"),
        ({"id": "Floor 1"}, "buses[2].id: 'Floor 1' is not a short id (expected [a-z0-9-]+)"),
        (
            {"url": 5},
            "buses[2].url: is a number (5) (expected a pyserial URL: /dev/ttyUSB0, socket://host:port, loop://)",
        ),
        ({"baudrate": "9600"}, "buses[2].baudrate: is a string ('9600') (expected a whole number)"),
        ({"baudrate": True}, "buses[2].baudrate: is a boolean (true) (expected a whole number)"),
        ({"baudrate": 10}, "buses[2].baudrate: is 10 (expected 50 to 4000000)"),
        (
            {"parity": "X"},
            "buses[2].parity: 'X' is not allowed (expected N, E, O, M, S, none, even, odd, mark or space)",
        ),
        ({"parity": []}, "buses[2].parity: [] is not allowed (expected N, E, O, M, S, none, even, odd, mark or space)"),
        ({"stopbits": 3}, "buses[2].stopbits: 3 is not allowed (expected 1, 1.5 or 2)"),
        ({"timeout_s": 0}, "buses[2].timeout_s: is 0 (expected more than 0 and at most 10 s)"),
        ({"rs485": "yes"}, "buses[2].rs485: is a string ('yes') (expected true or false)"),
        ({"preset": "sum9"}, "buses[2].preset: 'sum9' is not a preset (expected len-crc16, sum8-ff or xor8-nul)"),
        ({"frame": {"based_on": "sum8-ff"}}, "buses[2].frame: given with preset"),
        ({"backoff_min_ms": 5000, "backoff_max_ms": 1000}, "buses[2].backoff_max_ms: is less than backoff_min_ms"),
        (
            {"devices": "1,2"},
            "buses[2].devices: is a string ('1,2') (expected an array of {address, kind, window} tables)",
        ),
    ],
)
def test_bad_bus_keys(change, expected):
    entry = {
        "id": "b",
        "url": "loop://",
        "preset": "sum8-ff",
        "devices": [{"address": 1, "kind": "window", "window": 1}],
    }
    entry.update(change)
    cfg, errors = parse_bus_config(entry, "buses[2]")
    assert cfg is None
    assert any(e.startswith(expected) for e in errors), errors


@pytest.mark.parametrize(
    "device, expected",
    [
        (
            {"address": 1, "kind": "window"},
            "buses[0].devices[0].window: is missing (expected the number of the window this window serves)",
        ),
        ({"address": 1, "kind": "hall", "window": 2}, "buses[0].devices[0].window: is not allowed on a hall board"),
        ({"address": 256, "kind": "window", "window": 1}, "buses[0].devices[0].address: is 256 (expected 0 to 255)"),
        (
            {"kind": "window", "window": 1},
            "buses[0].devices[0].address: is missing (expected the device's bus address)",
        ),
        ({"address": 1, "kind": "window", "window": 1, "rows": 2}, "buses[0].devices[0].rows: is only for hall boards"),
        ({"address": 1, "kind": "keypad", "window": 0}, "buses[0].devices[0].window: is 0 (expected 1 or more)"),
        ({"address": 1, "kind": "window", "window": 1, "colour": "red"}, "buses[0].devices[0].colour: unknown key"),
    ],
)
def test_bad_devices(device, expected):
    entry = {"id": "b", "url": "loop://", "preset": "sum8-ff", "devices": [device]}
    _, errors = parse_bus_config(entry, "buses[0]")
    assert any(e.startswith(expected) for e in errors), errors


def test_every_problem_is_reported_at_once_and_addresses_are_unique():
    entry = {
        "url": "loop://",
        "preset": "len-crc16",
        "devices": [
            {"address": 1, "kind": "window", "window": 1},
            {"address": 1, "kind": "keypad", "window": 1},
            {"address": 70000, "kind": "hall"},
        ],
    }
    _, errors = parse_bus_config(entry, "buses[1]")
    assert errors == [
        "buses[1].id: is missing (expected a short id, [a-z0-9-]+)",
        "buses[1].devices[2].address: is 70000 (expected 0 to 65535)",
        "buses[1].devices[1].address: duplicate device address 1 (expected a device address not used before; "
        "buses[1].devices[0].address has it)",
    ]


def test_inline_frame_based_on_a_preset():
    toml = """
    id = "b"
    url = "loop://"
    devices = [{address = 1, kind = "keypad", window = 4}]
    [frame]
    based_on = "sum8-ff"
    encoding = "gbk"
    trailer = "FE"
    checksum = {algorithm = "xor8", start = 0}
    """
    cfg, errors = parse_bus_config(tomllib.loads(toml), "buses[0]")
    assert errors == []
    assert (cfg.frame.encoding, cfg.frame.trailer, cfg.frame.checksum.algorithm) == ("gbk", b"\xfe", "xor8")
    assert cfg.frame.reply == get_preset("sum8-ff").reply  # what was not given is the preset's


def test_inline_frame_from_scratch():
    toml = """
    header = "7E 00 00"
    address = {offset = 1}
    command = {offset = 2}
    text_command = 0x31
    poll_command = 0x32
    encoding = "gb2312"
    checksum = {algorithm = "crc16-ccitt", start = 1, byteorder = "little"}
    trailer = "0D"
    reply = {command = 0x33, payload_len = 1, keys = {next = 0x01, recall = 0x02}}
    """
    spec, errors = parse_frame_spec(tomllib.loads(toml), "buses[0].frame")
    assert errors == []
    assert spec.header == b"\x7e\x00\x00" and spec.reply.key_name(2) == "recall"


@pytest.mark.parametrize(
    "frame, expected",
    [
        ({"header": "AA 0"}, "buses[0].frame.header: 'AA 0' is not hex bytes (expected pairs of hex digits"),
        ({"header": 5}, 'buses[0].frame.header: is a number (5) (expected hex bytes such as "AA 00 00")'),
        ({"address": {"offset": 1}}, "buses[0].frame.header: is missing (expected unless based_on names a preset)"),
        ({"based_on": ["sum8-ff"]}, "buses[0].frame.based_on: is an array (expected len-crc16, sum8-ff or xor8-nul)"),
        (
            {"based_on": "sum8-ff", "checksum": {"algorithm": "md5"}},
            "buses[0].frame.checksum.algorithm: 'md5' is not allowed (expected none, sum8, xor8 or crc16-ccitt)",
        ),
        (
            {"based_on": "sum8-ff", "reply": {"command": 1, "payload_len": 2, "keys": {"call": 1}}},
            "buses[0].frame.reply.keys.call: unknown key (expected one of next, recall, no_show, pause, start, finish, "
            "transfer)",
        ),
        ({"based_on": "sum8-ff", "command": {"offset": 1}}, "buses[0].frame: command field overlaps the address field"),
        (
            {"based_on": "sum8-ff", "address": {"offset": 1, "width": 3}},
            "buses[0].frame.address.width: 3 is not allowed (expected 1, 2 or 4)",
        ),
        (
            {"based_on": "sum8-ff", "address": {"offset": 1, "start": 0}},
            "buses[0].frame.address.start: unknown key (expected one of offset, width, byteorder)",
        ),
        ({"based_on": "sum8-ff", "colour": 1}, "buses[0].frame.colour: unknown key"),
    ],
)
def test_bad_inline_frames(frame, expected):
    _, errors = parse_frame_spec(frame, "buses[0].frame")
    assert any(e.startswith(expected) for e in errors), errors


def test_keypads_need_a_spec_that_can_be_polled():
    entry = {
        "id": "b",
        "url": "loop://",
        "devices": [{"address": 1, "kind": "keypad", "window": 1}],
        "frame": {"header": "AA 00", "address": {"offset": 1}, "trailer": "FF"},
    }
    _, errors = parse_bus_config(entry, "buses[0]")
    assert errors == ["buses[0].devices[0].kind: 'keypad' needs a frame spec with a reply format (custom has none)"]


def test_load_bus_config_raises_with_every_error():
    from tongban.displays import BusConfigError, load_bus_config

    with pytest.raises(BusConfigError) as info:
        load_bus_config({"url": "loop://", "preset": "sum8-ff", "devices": []}, "buses[4]")
    assert info.value.errors == ["buses[4].id: is missing (expected a short id, [a-z0-9-]+)"]
