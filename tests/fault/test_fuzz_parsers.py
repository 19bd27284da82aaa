"""Fuzzing the parsers that read what the outside world sends: the hall file loader (a
person edits it by hand), the ESC/POS decoder and the serial frame decoder (bytes off a wire).
Random input may be refused, with the parser's own named error, but never crash it with anything
else, and never hang it."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests._toml import dumps
from tests.conftest import small_hall_doc
from tests.tools import escpos_decode as decode
from tongban.config import ConfigError, HallConfig, load_hall_config, parse_hall_config

FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            " ",
            "A",
            "Z",
            "AA",
            "a",
            "08:30-12:00",
            "25:00",
            "12:00-08:00",
            "Asia/Shanghai",
            "Mars/Olympus",
            "dummy://",
            "tcp://",
            "loop://",
            "M1",
            "rsj",
            "∞",
            "\x00",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12,
)


def _paths(doc, prefix=()):
    """Every place in the document a value sits, as a key path."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


PATHS = list(_paths(small_hall_doc()))


def _parse(doc):
    try:
        result = parse_hall_config(doc, "fuzz.toml")
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and ": " in p for p in exc.problems)
        return None
    assert isinstance(result, HallConfig)
    return result


@FUZZ
@given(
    changes=st.lists(st.tuples(st.sampled_from(PATHS), values), min_size=1, max_size=4),
    deletions=st.lists(st.sampled_from(PATHS), max_size=2),
)
def test_config_checker_survives_any_value_anywhere(changes, deletions):
    doc = copy.deepcopy(small_hall_doc())
    for path, value in changes:
        target = doc
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    for path in deletions:
        target = doc
        try:
            for key in path[:-1]:
                target = target[key]
            del target[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue
    _parse(doc)


@FUZZ
@given(
    table=st.sampled_from(
        ["operations", "policy", "hall", "printers", "buses", "kiosks", "district_windows", "surprise"]
    ),
    value=values,
)
def test_config_checker_survives_any_table(table, value):
    doc = copy.deepcopy(small_hall_doc())
    doc[table] = value
    _parse(doc)


@FUZZ
@given(text=st.text(max_size=400))
def test_config_file_loader_survives_any_text(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("cfg") / "hall.toml"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    with pytest.raises(ConfigError):
        load_hall_config(path)  # no random text is a whole hall


@FUZZ
@given(data=st.binary(max_size=400))
def test_config_file_loader_survives_any_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("cfg") / "hall.toml"
    path.write_bytes(data)
    with pytest.raises(ConfigError):
        load_hall_config(path)


@FUZZ
@given(cut=st.integers(min_value=0, max_value=4000), junk=st.binary(max_size=20))
def test_config_file_loader_survives_a_truncated_or_spliced_hall(tmp_path_factory, cut, junk):
    text = dumps(small_hall_doc()).encode()
    path = tmp_path_factory.mktemp("cfg") / "hall.toml"
    path.write_bytes(text[:cut] + junk + text[cut : cut + 200])
    try:
        load_hall_config(path)
    except ConfigError as exc:
        assert exc.problems


# ---------- byte parsers ----------


@FUZZ
@given(data=st.binary(max_size=600), encoding=st.sampled_from(["gb18030", "gbk", "big5"]))
def test_escpos_decoder_survives_any_bytes(data, encoding):
    try:
        items = decode.decode_escpos(data, encoding)
    except decode.DecodeError:
        return
    assert all(isinstance(item, decode.Item) for item in items)
    try:
        decode.ticket_view(items, encoding)
    except decode.DecodeError:
        pass


@FUZZ
@given(prefix=st.binary(max_size=40), suffix=st.binary(max_size=40))
def test_escpos_decoder_survives_noise_around_a_real_ticket(prefix, suffix):
    from tongban.printers import build_ticket_bytes, demo_slip, parse_printer_config

    cfg, errors = parse_printer_config({"id": "p", "url": "dummy://"}, "printers[0]")
    assert not errors
    ticket = build_ticket_bytes(cfg, demo_slip())
    try:
        decode.ticket_view(prefix + ticket + suffix)
    except decode.DecodeError:
        pass


displays = pytest.importorskip("tongban.displays")


@FUZZ
@given(preset=st.sampled_from(sorted(displays.PRESETS)), chunks=st.lists(st.binary(max_size=64), max_size=8))
def test_frame_decoder_survives_any_bytes_in_any_chunks(preset, chunks):
    spec = displays.get_preset(preset)
    decoder = displays.FrameDecoder(spec)
    frames = []
    for chunk in chunks:
        try:
            frames += decoder.feed(chunk)
        except displays.FrameError:
            return
    assert len(decoder.buf) <= sum(len(c) for c in chunks)
    for frame in frames:
        try:
            if spec.reply is not None:
                displays.decode_key(spec, frame)
            displays.decode_text(spec, frame.payload)
        except (displays.FrameError, displays.DisplayError):
            pass


@FUZZ
@given(
    preset=st.sampled_from(sorted(displays.PRESETS)),
    noise=st.binary(max_size=30),
    address=st.integers(0, 31),
    text=st.text(alphabet=st.characters(codec="gbk"), max_size=8),
    split=st.integers(0, 200),
)
def test_frame_decoder_finds_a_real_frame_inside_noise(preset, noise, address, text, split):
    spec = displays.get_preset(preset)
    assume(address <= spec.max_address)
    try:
        frames = displays.text_frames(spec, address, text)
    except (displays.FrameError, displays.DisplayError):
        return
    wire = noise + b"".join(frames)
    decoder = displays.FrameDecoder(spec)
    found = []
    try:
        found += decoder.feed(wire[:split])
        found += decoder.feed(wire[split:])
    except displays.FrameError:
        return
    if not noise:  # split anywhere, the frames all come out; with noise in front, no crash is the promise
        assert len(found) == len(frames)
