"""USB keyboard-wedge (HID) scanners: Linux input events in, scanned text out.

Source: FIELD.md "Keyboard-wedge (USB HID) scanners on Linux", linux/input-event-codes.h.
The kernel hands out `struct input_event` records (24 bytes on 64-bit Linux: seconds,
microseconds, type, code, value). Key codes name physical key positions after the US layout,
so the text depends on the keyboard layout the scanner is set to ("keyboard country").

Everything here is pure. `KeyDecoder` turns key events into frames of bytes (ISO 8859-1, as a
serial scanner would send them) for `protocols.scanner.parse_scan`:
- Shift (either), Caps Lock (letters only), AltGr (right Alt) on layouts that have one;
- number-pad digits and operators, whatever Num Lock says (scanners assume it on);
- Enter, keypad Enter and Tab end a frame; so does a pause between keys (scanners set to
  send no suffix), judged on the events' own time stamps;
- key repeat (value 2) is ignored: a scanner never holds a key, a repeat is a stuck one;
- Alt + number-pad digits type the character of that code (Alt 0 2 9 -> GS, 0x1D), and so
  does Ctrl + a key in @..._ (Ctrl+] -> GS), the two ways scanners type GS1's separator;
- a key that types nothing we know becomes SUB (0x1A), so the frame is refused with a
  reason by parse_scan instead of reaching the floor silently changed;
- a CR or LF typed as a control character (Ctrl+M, Alt 0 1 3) ends a frame like Enter.
Dead keys (´ ` ^ on de and fr) are not composed: they type their own character.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

# struct input_event: struct timeval (two C longs), __u16 type, __u16 code, __s32 value.
EVENT = struct.Struct("llHHi")
EVENT_SIZE = EVENT.size  # 24 on 64-bit Linux, 16 on 32-bit

EV_SYN = 0
EV_KEY = 1
EV_MSC = 4
KEY_RELEASE, KEY_PRESS, KEY_REPEAT = 0, 1, 2

KEY_ESC = 1
KEY_TAB = 15
KEY_ENTER = 28
KEY_LEFTCTRL = 29
KEY_LEFTSHIFT = 42
KEY_RIGHTSHIFT = 54
KEY_LEFTALT = 56
KEY_CAPSLOCK = 58
KEY_NUMLOCK = 69
KEY_SCROLLLOCK = 70
KEY_KPENTER = 96
KEY_RIGHTCTRL = 97
KEY_RIGHTALT = 100
KEY_LEFTMETA = 125
KEY_RIGHTMETA = 126

SHIFTS = frozenset({KEY_LEFTSHIFT, KEY_RIGHTSHIFT})
CTRLS = frozenset({KEY_LEFTCTRL, KEY_RIGHTCTRL})
FRAME_ENDS = frozenset({KEY_ENTER, KEY_KPENTER, KEY_TAB})
MODIFIERS = SHIFTS | CTRLS | {KEY_LEFTALT, KEY_RIGHTALT, KEY_CAPSLOCK}
# Keys that type nothing and change nothing here.
IGNORED = frozenset({KEY_NUMLOCK, KEY_SCROLLLOCK, KEY_LEFTMETA, KEY_RIGHTMETA})

# Number pad: the same on every layout.
KEYPAD: dict[int, str] = {
    71: "7", 72: "8", 73: "9", 74: "-", 75: "4", 76: "5", 77: "6", 78: "+",
    79: "1", 80: "2", 81: "3", 82: "0", 83: ".", 55: "*", 98: "/",
}  # fmt: skip
KEYPAD_DIGITS: dict[int, int] = {code: int(c) for code, c in KEYPAD.items() if c.isdigit()}

# The main block's rows, by key code, as (code of the first key, keys of the row).
_ROWS = ((2, 12), (16, 12), (30, 12), (44, 10))  # 1..=, q..], a..`, z../
KEY_102ND = 86  # the extra key left of Z on ISO keyboards (< > on de and fr)
KEY_BACKSLASH = 43
KEY_GRAVE = 41
KEY_SPACE = 57

SUB = "\x1a"  # what an unknown key types: parse_scan refuses the frame with a reason
GS = "\x1d"

# Pause between two keys that ends a frame (scanners set to send no suffix); scanners type
# a key every 1-20 ms, a person scanning the next label takes far longer.
PAUSE_S = 0.3


@dataclass(frozen=True, slots=True)
class Layout:
    """A keyboard layout: the character each key types, plain, with Shift, with AltGr."""

    name: str
    plain: dict[int, str]
    shifted: dict[int, str]
    altgr: dict[int, str]


def _layout(
    name: str,
    rows: tuple[str, str, str, str],
    shifted_rows: tuple[str, str, str, str],
    extra: dict[int, tuple[str, str]],
    altgr: dict[int, str],
) -> Layout:
    """Build a layout from its four rows (plain and shifted) and the keys outside them."""
    plain: dict[int, str] = {KEY_SPACE: " "}
    shifted: dict[int, str] = {KEY_SPACE: " "}
    for (first, count), row, shifted_row in zip(_ROWS, rows, shifted_rows, strict=True):
        if not len(row) == len(shifted_row) == count:
            raise ValueError(f"{name}: row {row!r} needs {count} keys")
        for offset in range(count):
            plain[first + offset] = row[offset]
            shifted[first + offset] = shifted_row[offset]
    for code, (char, shifted_char) in extra.items():
        plain[code], shifted[code] = char, shifted_char
    return Layout(name, plain, shifted, altgr)


# Rows: 2-13 (1 .. =), 16-27 (q .. ]), 30-41 (a .. `), 44-53 (z .. /).
US = _layout(
    "us",
    ("1234567890-=", "qwertyuiop[]", "asdfghjkl;'`", "zxcvbnm,./"),
    ("!@#$%^&*()_+", "QWERTYUIOP{}", 'ASDFGHJKL:"~', "ZXCVBNM<>?"),
    {KEY_BACKSLASH: ("\\", "|"), KEY_102ND: ("\\", "|")},
    {},
)
# German QWERTZ (Linux "de", Windows "German").
DE = _layout(
    "de",
    ("1234567890ß´", "qwertzuiopü+", "asdfghjklöä^", "yxcvbnm,.-"),
    ('!"§$%&/()=?`', "QWERTZUIOPÜ*", "ASDFGHJKLÖÄ°", "YXCVBNM;:_"),
    {KEY_BACKSLASH: ("#", "'"), KEY_102ND: ("<", ">")},
    {
        16: "@",
        18: "€",
        3: "²",
        4: "³",
        8: "{",
        9: "[",
        10: "]",
        11: "}",
        12: "\\",
        27: "~",
        KEY_102ND: "|",
        50: "µ",
    },
)
# French AZERTY (Linux "fr", Windows "French"): the digits need Shift.
FR = _layout(
    "fr",
    ("&é\"'(-è_çà)=", "azertyuiop^$", "qsdfghjklmù²", "wxcvbn,;:!"),
    ("1234567890°+", "AZERTYUIOP¨£", "QSDFGHJKLM%²", "WXCVBN?./§"),
    {KEY_BACKSLASH: ("*", "µ"), KEY_102ND: ("<", ">")},
    {
        3: "~",
        4: "#",
        5: "{",
        6: "[",
        7: "|",
        8: "`",
        9: "\\",
        10: "^",
        11: "@",
        12: "]",
        13: "}",
        18: "€",
        27: "¤",
    },
)

LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (US, DE, FR)}


@dataclass(frozen=True, slots=True)
class InputEvent:
    """One kernel input event."""

    sec: int
    usec: int
    type: int
    code: int
    value: int

    @property
    def time(self) -> float:
        """The event's time stamp in seconds."""
        return self.sec + self.usec / 1_000_000


def encode_event(event: InputEvent) -> bytes:
    """The record the kernel writes for `event` (native `struct input_event`)."""
    return EVENT.pack(event.sec, event.usec, event.type, event.code, event.value)


class EventReader:
    """Cuts a byte stream into `struct input_event` records (reads may end mid-record)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[InputEvent]:
        """Add received bytes; return the complete events."""
        buffer = self._buffer + data
        whole = len(buffer) - len(buffer) % EVENT_SIZE
        self._buffer = buffer[whole:]
        return [InputEvent(*fields) for fields in EVENT.iter_unpack(buffer[:whole])]

    @property
    def pending(self) -> int:
        """Bytes of a record not complete yet."""
        return len(self._buffer)


class KeyDecoder:
    """Key events of one scanner -> frames of text, as bytes; see the module docstring."""

    def __init__(
        self, layout: str = "us", pause_s: float = PAUSE_S, caps_lock: bool = False
    ) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"layout {layout!r}: one of {', '.join(LAYOUTS)}")
        self.layout = LAYOUTS[layout]
        self.pause_s = pause_s
        self._held: set[int] = set()
        self._caps = caps_lock  # the device's Caps Lock LED when it was opened
        self._text: list[str] = []
        self._alt_digits: list[int] | None = None  # Alt held: number-pad digits typed so far
        self._last_key: float | None = None
        self.repeats = 0  # auto-repeat events ignored (a stuck key)
        self.unknown = 0  # keys that typed SUB

    def feed(self, event: InputEvent) -> list[bytes]:
        """Take one event; return the frames it completed (at most two: a pause, then an end)."""
        if event.type != EV_KEY:
            return []  # EV_SYN, EV_MSC (the HID usage), LEDs: nothing typed
        if event.value == KEY_REPEAT:
            self.repeats += 1
            return []
        frames: list[bytes] = []
        code, pressed = event.code, event.value == KEY_PRESS
        if pressed:
            if self._last_key is not None and event.time - self._last_key > self.pause_s:
                frames += self._end()  # a scanner without suffix: the pause ended its frame
            self._last_key = event.time
        if not pressed:
            self._held.discard(code)
            if code == KEY_LEFTALT or (code == KEY_RIGHTALT and not self.layout.altgr):
                frames += self._alt_released()
            return frames
        if code in self._held and code in MODIFIERS:
            return frames  # a modifier pressed again without release: a lost release
        # A character key pressed again without its release types again: a lost release
        # must not eat a character.
        self._held.add(code)
        if code in SHIFTS or code in CTRLS or code in IGNORED or code == KEY_RIGHTALT:
            if code == KEY_RIGHTALT and not self.layout.altgr:
                self._alt_digits = []  # US: right Alt is Alt
            return frames
        if code == KEY_LEFTALT:
            self._alt_digits = []
            return frames
        if code == KEY_CAPSLOCK:
            self._caps = not self._caps
            return frames
        if self._alt_digits is not None:
            if code in KEYPAD_DIGITS:
                self._alt_digits.append(KEYPAD_DIGITS[code])
            else:
                frames += self._type(SUB)  # Alt + a key is a shortcut, not text
            return frames
        if code in FRAME_ENDS:
            return frames + self._end()
        return frames + self._type(self._char(code))

    def flush(self) -> bytes | None:
        """Hand back and forget the pending text (no key for a pause, in real time)."""
        frames = self._end()
        return frames[0] if frames else None

    @property
    def pending(self) -> int:
        """Characters typed since the last frame ended."""
        return len(self._text)

    def _char(self, code: int) -> str:
        layout = self.layout
        if code in KEYPAD:
            return KEYPAD[code]
        shift = bool(self._held & SHIFTS)
        if KEY_RIGHTALT in self._held and layout.altgr:
            char = layout.altgr.get(code)
        else:
            char = (layout.shifted if shift else layout.plain).get(code)
        if char is None:
            return SUB
        plain = layout.plain[code]
        # Caps Lock inverts the case of letters (with Shift: lower case again); ß has no
        # capital on its key, and AltGr characters are left alone.
        letter = plain.isalpha() and len(plain.upper()) == 1 and char in (plain, plain.upper())
        if self._caps and letter:
            char = plain.lower() if shift else plain.upper()
        if self._held & CTRLS:
            upper = char.upper()
            if len(upper) == 1 and "@" <= upper <= "_":
                return chr(ord(upper) & 0x1F)  # Ctrl+] -> GS, as on a terminal
            return SUB
        return char

    def _alt_released(self) -> list[bytes]:
        digits, self._alt_digits = self._alt_digits, None
        if not digits:
            return []
        number = int("".join(map(str, digits))) % 256
        if digits[0] == 0 and number >= 0x80:
            char = bytes([number]).decode("cp1252", errors="replace")  # Alt+0nnn: Windows ANSI
        elif number >= 0x80:
            char = bytes([number]).decode("cp437")  # Alt+nnn: the DOS code page
        else:
            char = chr(number)
        return self._type(char)

    def _type(self, char: str) -> list[bytes]:
        """Add a character; a CR or LF (Ctrl+M, Alt 0 1 3) ends the frame instead."""
        if char in ("\r", "\n"):
            return self._end()
        if char == SUB:
            self.unknown += 1
        self._text.append(char)
        return []

    def _end(self) -> list[bytes]:
        text, self._text = "".join(self._text), []
        if not text:
            return []
        # ISO 8859-1 like a serial scanner; what it cannot carry becomes SUB (refused).
        return [bytes(ord(c) if ord(c) < 0x100 else ord(SUB) for c in text)]


def _reverse(layout: Layout) -> dict[str, tuple[int, bool, bool]]:
    """Character -> (key code, Shift, AltGr) on `layout`, plain keys first."""
    keys: dict[str, tuple[int, bool, bool]] = {}
    for table, shift, altgr in (
        (layout.altgr, False, True),
        (layout.shifted, True, False),
        (layout.plain, False, False),
    ):
        for code, char in table.items():
            keys[char] = (code, shift, altgr)  # later tables win: the simplest way to type it
    return keys


def type_text(
    text: str,
    layout: str = "us",
    *,
    start: float = 0.0,
    key_s: float = 0.002,
    suffix: str = "\r",
    alt_codes: bool = True,
) -> Iterator[InputEvent]:
    """The key events a scanner set to `layout` sends for `text` (for simulators and tests).

    Each key is pressed and released `key_s` apart, with EV_MSC and EV_SYN as the kernel
    adds them; control characters (GS) are typed as Alt + number pad (`alt_codes`) or as
    Ctrl + key. `suffix` is "\\r" (Enter), "\\t" (Tab) or "" (none: a pause ends it).
    """
    keys = _reverse(LAYOUTS[layout])
    clock = [start]

    def key(code: int, value: int) -> Iterator[InputEvent]:
        sec, usec = divmod(round(clock[0] * 1_000_000), 1_000_000)
        yield InputEvent(sec, usec, EV_MSC, 4, 0x70000 + code)  # MSC_SCAN: a HID usage
        yield InputEvent(sec, usec, EV_KEY, code, value)
        yield InputEvent(sec, usec, EV_SYN, 0, 0)
        clock[0] += key_s

    def tap(code: int, *mods: int) -> Iterator[InputEvent]:
        for mod in mods:
            yield from key(mod, KEY_PRESS)
        yield from key(code, KEY_PRESS)
        yield from key(code, KEY_RELEASE)
        for mod in reversed(mods):
            yield from key(mod, KEY_RELEASE)

    digit_keys = {digit: code for code, digit in KEYPAD_DIGITS.items()}
    ends = {"\r": KEY_ENTER, "\n": KEY_ENTER, "\t": KEY_TAB, "": None}
    if suffix not in ends:
        raise ValueError(f"suffix {suffix!r}: Enter (\\r), Tab (\\t) or none")
    for char in text:
        if ord(char) < 0x20:
            if alt_codes:
                yield from key(KEY_LEFTALT, KEY_PRESS)
                for digit in f"{ord(char):03d}":
                    yield from tap(digit_keys[int(digit)])
                yield from key(KEY_LEFTALT, KEY_RELEASE)
            else:
                code, shift, altgr = keys[chr(ord(char) | 0x40).lower()]
                mods = [KEY_RIGHTALT] if altgr else [KEY_LEFTSHIFT] if shift else []
                yield from tap(code, KEY_LEFTCTRL, *mods)
            continue
        if char not in keys:
            raise ValueError(f"{char!r} cannot be typed on the {layout} layout")
        code, shift, altgr = keys[char]
        mods = [KEY_LEFTSHIFT] if shift else []
        if altgr:
            mods = [KEY_RIGHTALT]
        yield from tap(code, *mods)
    end = ends[suffix]
    if end is not None:
        yield from tap(end)


def encode_events(events: Iterator[InputEvent] | list[InputEvent]) -> bytes:
    """Records for a stream of events, as read from the device node."""
    return b"".join(encode_event(event) for event in events)
