"""The fast line-protocol encoder writes exactly what the plain, escape-everything one does.

gudang.influx.line() skips escaping when nothing needs it (docs/performance.md); a
mistake there would silently store a different point, so it is checked against the
reference encoding, for arbitrary keys and values.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gudang.influx import FieldValue, line

_MEASUREMENT_ESC = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n"})
_KEY_ESC = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n"})
# A string field's line breaks stay as they are (tests/test_influx_quoting.py: InfluxDB
# stores them as written inside the quotes).
_STR_ESC = str.maketrans({'"': r"\"", "\\": "\\\\"})


def _reference_field(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + value.translate(_STR_ESC) + '"'


def reference_line(
    measurement: str, tags: dict[str, str], fields: dict[str, FieldValue | None], ts: int
) -> str:
    parts = [measurement.translate(_MEASUREMENT_ESC)]
    parts += [
        f"{k.translate(_KEY_ESC)}={tags[k].translate(_KEY_ESC)}" for k in sorted(tags) if tags[k]
    ]
    body = ",".join(
        f"{k.translate(_KEY_ESC)}={_reference_field(v)}" for k, v in fields.items() if v is not None
    )
    return f"{','.join(parts)} {body} {ts}"


# Text with every character the protocol escapes, and then some.
text = st.text(alphabet=st.sampled_from(list('ab ,="\\\n\tü-_.:')) | st.characters(), max_size=20)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)


@given(
    measurement=text.filter(bool),
    tags=st.dictionaries(text.filter(bool), text, max_size=4),
    fields=st.dictionaries(text.filter(bool), values, min_size=1, max_size=8),
    ts=st.integers(min_value=0, max_value=2**62),
)
def test_reliability_line_protocol_matches_reference(
    measurement: str, tags: dict[str, str], fields: dict[str, FieldValue | None], ts: int
) -> None:
    if all(v is None for v in fields.values()):
        with pytest.raises(ValueError, match="no fields"):
            line(measurement, tags, fields, ts)
        return
    assert line(measurement, tags, fields, ts) == reference_line(measurement, tags, fields, ts)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_reliability_line_protocol_refuses_non_finite_floats(bad: float) -> None:
    with pytest.raises(ValueError, match="not finite"):
        line("scan", {"site": "s"}, {"weight_kg": bad}, 1)


def test_reliability_line_protocol_escapes_a_scan_point() -> None:
    got = line(
        "scan",
        {"station": "load 1", "site": "a,b"},
        {"barcode": 'say "hi"\\\n', "weight_kg": 9.5, "n": 3, "ok": True, "gone": None},
        1700000000000000000,
    )
    assert got == (
        r"scan,site=a\,b,station=load\ 1 "
        r'barcode="say \"hi\"\\' + "\n" + '",weight_kg=9.5,n=3i,ok=true 1700000000000000000'
    )
