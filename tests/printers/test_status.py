"""DLE EOT answers to states; silence and garbage are "unknown", never "ok"."""

import pytest

from tongban.printers.status import answer_bytes, interpret


@pytest.mark.parametrize("state", ["ok", "paper_near_end", "paper_end", "cover_open", "offline", "cutter_error"])
def test_each_state_round_trips_through_its_answer_bytes(state):
    assert interpret(answer_bytes(state)).state == state


def test_silence_is_unknown():
    st = interpret({})
    assert (st.state, st.detail) == ("unknown", "no answer to DLE EOT 1")
    assert not st.printable


def test_a_partial_answer_is_unknown():
    answers = answer_bytes("ok")
    del answers[4]
    assert interpret(answers).detail == "no answer to DLE EOT 4"


def test_a_byte_without_the_fixed_bits_is_unknown_not_ready():
    assert interpret({1: 0x00, 2: 0x12, 3: 0x12, 4: 0x12}).state == "unknown"
    assert interpret({1: 0xFF, 2: 0x12, 3: 0x12, 4: 0x12}).detail == "unexpected answer 0xff to DLE EOT 1"


def test_cover_open_wins_over_its_symptoms():
    a = answer_bytes("cover_open")
    a[4] |= 0x60  # many printers also report "paper end" while the cover is open
    assert interpret(a).state == "cover_open"


def test_near_end_is_printable():
    assert interpret(answer_bytes("paper_near_end")).printable
    assert not interpret(answer_bytes("paper_end")).printable
