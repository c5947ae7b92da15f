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
