"""Keyboard-wedge scanners: input_event records, the keymaps, and the key decoder's rules."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.protocols import hid
from firmware_bridge.protocols.base import ParseError
from firmware_bridge.protocols.hid import (
    EV_KEY,
    EV_MSC,
    EV_SYN,
    EventReader,
    InputEvent,
    KeyDecoder,
    encode_event,
    encode_events,
    type_text,
)
from firmware_bridge.protocols.scanner import parse_scan
from gudang.settings import HID_LAYOUT_NAMES

LSHIFT, RSHIFT, LALT, RALT, CAPS, ENTER, KPENTER, TAB = 42, 54, 56, 100, 58, 28, 96, 15
PRESS, RELEASE, REPEAT = 1, 0, 2


def test_record_is_the_kernels_struct_input_event() -> None:
    # 64-bit Linux: two longs of timeval, u16 type, u16 code, s32 value.
    assert hid.EVENT_SIZE == struct.calcsize("llHHi") == 24
    record = struct.pack("llHHi", 1764590000, 123456, EV_KEY, 30, PRESS)
    assert EventReader().feed(record) == [InputEvent(1764590000, 123456, EV_KEY, 30, PRESS)]
    assert encode_event(InputEvent(1764590000, 123456, EV_KEY, 30, PRESS)) == record
    assert InputEvent(5, 250_000, EV_KEY, 30, PRESS).time == 5.25


def test_reader_keeps_a_record_cut_between_reads() -> None:
    records = encode_events([InputEvent(1, i, EV_KEY, 30 + i, PRESS) for i in range(3)])
    reader = EventReader()
    assert reader.feed(records[:30]) == [InputEvent(1, 0, EV_KEY, 30, PRESS)]
    assert reader.pending == 6
    assert [e.code for e in reader.feed(records[30:])] == [31, 32]
    assert reader.pending == 0


def test_layout_names_match_the_settings() -> None:
    assert set(hid.LAYOUTS) == set(HID_LAYOUT_NAMES)


class Keys:
    """A hand-written event stream, as a scanner's key presses."""

    def __init__(self) -> None:
        self.events: list[InputEvent] = []
        self.t = 100.0

    def ev(self, code: int, value: int, type_: int = EV_KEY, gap: float = 0.005) -> Keys:
        sec, usec = divmod(round(self.t * 1_000_000), 1_000_000)
        self.events.append(InputEvent(sec, usec, type_, code, value))
        self.t += gap
        return self

    def tap(self, *codes: int) -> Keys:
        for code in codes:
            self.ev(code, PRESS).ev(code, RELEASE)
        return self

    def held(self, mod: int, *codes: int) -> Keys:
        self.ev(mod, PRESS).tap(*codes)
        return self.ev(mod, RELEASE)

    def pause(self, seconds: float) -> Keys:
        self.t += seconds
        return self


def _decode(keys: Keys, layout: str = "us") -> tuple[list[bytes], KeyDecoder]:
    decoder = KeyDecoder(layout)
    frames = [frame for event in keys.events for frame in decoder.feed(event)]
    return frames, decoder


# Key codes: a 30, b 48, c 46, q 16, w 17, y 21, z 44, m 50, 1 2, 2 3, 0 11, minus 12,
# semicolon 39, keypad 0 82, keypad 2 80, keypad 9 73, keypad minus 74.
@pytest.mark.parametrize(
    ("layout", "keys", "frames"),
    [
        ("us", Keys().tap(30, 48, 46, ENTER), [b"abc"]),
        ("us", Keys().held(LSHIFT, 30).tap(48).held(RSHIFT, 46).tap(ENTER), [b"AbC"]),
        ("us", Keys().held(LSHIFT, 2, 3, 12).tap(KPENTER), [b"!@_"]),
        ("us", Keys().tap(CAPS, 30, 2).held(LSHIFT, 48).tap(CAPS, 46, TAB), [b"A1bc"]),
        ("us", Keys().tap(82, 80, 73, 74, 83, ENTER), [b"029-."]),  # the number pad
        ("us", Keys().tap(21, 44, 39).tap(ENTER), [b"yz;"]),
        ("de", Keys().tap(21, 44, 39).tap(ENTER), ["zyö".encode("latin-1")]),  # QWERTZ
        ("de", Keys().held(LSHIFT, 3, 8, 12).tap(ENTER), [b'"/?']),
        ("de", Keys().held(RALT, 16).tap(ENTER), [b"@"]),  # AltGr+Q
        ("de", Keys().tap(CAPS, 39, 12, ENTER), ["Öß".encode("latin-1")]),  # ß has no capital
        ("fr", Keys().tap(16, 17, 39, 50).tap(ENTER), [b"azm,"]),  # AZERTY
        ("fr", Keys().held(LSHIFT, 2, 3, 11).tap(ENTER), [b"120"]),  # digits need Shift
        ("fr", Keys().tap(2, 3, 12).tap(ENTER), ["&é)".encode("latin-1")]),
        ("fr", Keys().tap(82, 80, ENTER), [b"02"]),  # the number pad needs no Shift
        # Two frames, Enter and Tab; empty frames (Enter Enter) are no frames.
        ("us", Keys().tap(30, ENTER, ENTER, 48, TAB), [b"a", b"b"]),
    ],
)
def test_decoder_table(layout: str, keys: Keys, frames: list[bytes]) -> None:
    assert _decode(keys, layout)[0] == frames


@pytest.mark.parametrize(
    "keys",
    [
        Keys().tap(30).ev(LALT, PRESS).tap(82, 80, 73).ev(LALT, RELEASE).tap(48, ENTER),  # 029
        Keys().tap(30).ev(LALT, PRESS).tap(80, 73).ev(LALT, RELEASE).tap(48, ENTER),  # 29
        Keys().tap(30).ev(29, PRESS).tap(27).ev(29, RELEASE).tap(48, ENTER),  # Ctrl+]
    ],
)
def test_alt_codes_and_ctrl_type_gs(keys: Keys) -> None:
    assert _decode(keys)[0] == [b"a\x1db"]


def test_alt_code_above_127_follows_the_windows_code_pages() -> None:
    ansi = Keys().ev(LALT, PRESS).tap(82, 80, 81, 73).ev(LALT, RELEASE).tap(ENTER)  # 0239
    dos = Keys().ev(LALT, PRESS).tap(80, 81, 73).ev(LALT, RELEASE).tap(ENTER)  # 239
    assert _decode(ansi)[0] == ["ï".encode("latin-1")]
    assert _decode(dos)[0] == [b"\x1a"]  # cp437 239 is "∩": no ISO 8859-1 byte, refused


def test_right_alt_is_alt_on_us_and_altgr_on_de() -> None:
    gs = Keys().ev(RALT, PRESS).tap(80, 73).ev(RALT, RELEASE).tap(ENTER)
    assert _decode(gs, "us")[0] == [b"\x1d"]
    assert _decode(gs, "de")[0] == [b"29"]  # AltGr + the number pad: just digits


def test_key_repeat_is_ignored_and_counted() -> None:
    keys = Keys().ev(30, PRESS).ev(30, REPEAT).ev(30, REPEAT).ev(30, RELEASE).tap(ENTER)
    frames, decoder = _decode(keys)
    assert frames == [b"a"]
    assert decoder.repeats == 2


def test_syn_and_msc_events_type_nothing() -> None:
    keys = Keys().ev(0, 0, EV_SYN).ev(4, 0x70004, EV_MSC).tap(30).ev(0, 0, EV_SYN).tap(ENTER)
    assert _decode(keys)[0] == [b"a"]


def test_a_pause_ends_a_frame_for_scanners_without_a_suffix() -> None:
    keys = Keys().tap(30, 48).pause(0.5).tap(46)
    frames, decoder = _decode(keys)
    assert frames == [b"ab"]
    assert decoder.pending == 1
    assert decoder.flush() == b"c"
    assert decoder.flush() is None
    # Keys a few milliseconds apart are one frame.
    assert _decode(Keys().tap(30).pause(0.1).tap(48, ENTER))[0] == [b"ab"]


def test_unknown_keys_make_the_frame_refused_with_a_reason() -> None:
    frames, decoder = _decode(Keys().tap(30, 59, 48, ENTER))  # F1 in the middle
    assert frames == [b"a\x1ab"]
    assert decoder.unknown == 1
    with pytest.raises(ParseError, match="control byte 0x1a"):
        parse_scan(frames[0])
    alt_letter = Keys().ev(LALT, PRESS).tap(30).ev(LALT, RELEASE).tap(ENTER)
    assert _decode(alt_letter)[0] == [b"\x1a"]


def test_decoder_refuses_an_unknown_layout() -> None:
    with pytest.raises(ValueError, match="us, de, fr"):
        KeyDecoder("xx")


GS1 = "]C1010950110153000310ABC123\x1d21SN0001"


@pytest.mark.parametrize("layout", sorted(hid.LAYOUTS))
@pytest.mark.parametrize("alt_codes", [True, False])
def test_typed_gs1_label_comes_back_whole(layout: str, alt_codes: bool) -> None:
    decoder = KeyDecoder(layout)
    events = list(type_text(GS1, layout, alt_codes=alt_codes))
    frames = [f for e in events for f in decoder.feed(e)]
    assert frames == [GS1.encode("latin-1")]
    scan = parse_scan(frames[0])
    assert (scan.symbology, scan.text) == ("]C1", GS1[3:])


def test_type_text_refuses_what_the_layout_cannot_type() -> None:
    with pytest.raises(ValueError, match="cannot be typed"):
        list(type_text("ö", "us"))
    with pytest.raises(ValueError, match="suffix"):
        list(type_text("a", "us", suffix="\n\n"))


def _typable(layout: str) -> st.SearchStrategy[str]:
    chars = sorted(
        set(hid.LAYOUTS[layout].plain.values()) | set(hid.LAYOUTS[layout].shifted.values())
    )
    return st.text(st.sampled_from([*chars, "\x1d"]), min_size=1, max_size=40).filter(
        lambda t: t.strip(" ")
    )


@pytest.mark.parametrize("layout", sorted(hid.LAYOUTS))
@settings(deadline=None, max_examples=150)
@given(data=st.data())
def test_round_trip_every_typable_text(layout: str, data: st.DataObject) -> None:
    text = data.draw(_typable(layout))
    decoder = KeyDecoder(layout)
    frames = [f for e in type_text(text, layout) for f in decoder.feed(e)]
    assert frames == [text.encode("latin-1")]


EVENTS = st.builds(
    InputEvent,
    st.integers(0, 2**31),
    st.integers(0, 999_999),
    st.sampled_from([EV_SYN, EV_KEY, EV_MSC, 17]),
    st.integers(0, 300),
    st.integers(-1, 3),
)


@pytest.mark.parametrize("layout", sorted(hid.LAYOUTS))
@settings(deadline=None, max_examples=300)
@given(events=st.lists(EVENTS, max_size=60))
def test_decoder_never_crashes(layout: str, events: list[InputEvent]) -> None:
    decoder = KeyDecoder(layout)
    for event in events:
        for frame in decoder.feed(event):
            assert isinstance(frame, bytes)
            assert frame
    pending = decoder.flush()
    assert pending is None or pending


@settings(deadline=None, max_examples=300)
@given(data=st.binary(max_size=500), cut=st.integers(0, 500))
def test_reader_never_crashes_on_any_bytes(data: bytes, cut: int) -> None:
    reader = EventReader()
    events = reader.feed(data[:cut]) + reader.feed(data[cut:])
    assert len(events) == len(data) // hid.EVENT_SIZE
    assert reader.pending == len(data) % hid.EVENT_SIZE


def test_caps_lock_on_at_open_inverts_letters_from_the_start() -> None:
    decoder = KeyDecoder("us", caps_lock=True)
    keys = Keys().tap(30).held(LSHIFT, 48).tap(2, ENTER)
    assert [f for e in keys.events for f in decoder.feed(e)] == [b"Ab1"]


def test_cr_or_lf_typed_as_control_characters_end_the_frame() -> None:
    ctrl_m = Keys().tap(30).ev(29, PRESS).tap(50).ev(29, RELEASE).tap(48)  # a, Ctrl+M, b
    frames, decoder = _decode(ctrl_m)
    assert frames == [b"a"]
    assert decoder.flush() == b"b"
    alt_13 = Keys().tap(30).ev(LALT, PRESS).tap(82, 79, 81).ev(LALT, RELEASE)  # a, Alt 0 1 3
    assert _decode(alt_13)[0] == [b"a"]


def test_a_lost_release_eats_no_character_and_toggles_nothing_twice() -> None:
    keys = Keys().ev(11, PRESS).ev(11, PRESS).ev(11, RELEASE)  # "0" twice, one release lost
    keys.ev(CAPS, PRESS).ev(CAPS, PRESS).ev(CAPS, RELEASE).tap(30, ENTER)  # Caps Lock once
    assert _decode(keys)[0] == [b"00A"]
