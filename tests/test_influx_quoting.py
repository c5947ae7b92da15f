"""InfluxQL string literals from any text: the query parses, and stored values match exactly.

A filter's value comes from a request (an audit filter, a phone's scan id): whatever its
characters, InfluxDB must get a query it can parse (schemathesis found a CR that did not).
"""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gudang.influx import InfluxClient, line, quote_str

TRICKY = [
    "a'b",
    "a\\b",
    "back\\'slash",
    "new\nline",
    "cr\rhere",
    "crlf\r\nend",
    "×jjꪤ\r",
    "nul\x00here",
]


def _q(influx: InfluxClient, value: str) -> list[str]:
    rows = influx.query(f"SELECT * FROM quoting WHERE v = {quote_str(value)}")
    return [str(r["v"]) for r in rows]


def test_stored_values_with_quotes_and_backslashes_match_exactly(influx: InfluxClient) -> None:
    stored = ["it's", "C:\\drums\\", "\\'", "plain", "ünïcode ꪤ"]
    now = time.time_ns()
    influx.write([line("quoting", {}, {"v": v}, now + i) for i, v in enumerate(stored)])
    for value in stored:
        assert _q(influx, value) == [value]
    for value in TRICKY:  # nothing stored under these: no match, and no error
        assert _q(influx, value) == []


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=40))
def test_any_text_makes_a_query_that_parses(influx: InfluxClient, value: str) -> None:
    _q(influx, value)  # InfluxRejected (a 400 from the parser) fails the test


def _stored(influx: InfluxClient, measurement: str) -> list[str]:
    return [str(r["v"]) for r in influx.query(f"SELECT v FROM {measurement} ORDER BY time")]


def test_text_with_line_breaks_is_stored_as_written_and_found(influx: InfluxClient) -> None:
    # A correction's reason or an address typed over two lines comes back as typed (not
    # with a backslash and an n), and a filter on it finds it (InfluxQL reads a CR in a
    # query as LF: a value with a CR is stored as written but no filter can name it).
    stored = ["new\nline", "cr\rhere", "crlf\r\nend", 'a "quoted"\nback\\slash', "\n"]
    now = time.time_ns()
    influx.write([line("breaks", {}, {"v": v}, now + i) for i, v in enumerate(stored)])
    assert _stored(influx, "breaks") == stored
    for value in ("new\nline", "\n"):
        rows = influx.query(f"SELECT v FROM breaks WHERE v = {quote_str(value)}")
        assert [r["v"] for r in rows] == [value]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40))
def test_any_text_field_comes_back_as_written(influx: InfluxClient, value: str) -> None:
    influx.query("DROP MEASUREMENT roundtrip")
    influx.write([line("roundtrip", {}, {"v": value}, time.time_ns())])
    assert _stored(influx, "roundtrip") == [value]
