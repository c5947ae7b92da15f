"""One storage schema: the services and the API read every stored timestamp the same way."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

import api.queries
import api.routes.scans
import services.commands
import services.interpret
import services.rebuild
from gudang import storage
from gudang.storage import datetime_to_ns, ns_to_datetime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_NS = -(2**63) + 1
MAX_NS = 2**63 - 1  # InfluxDB's int64 ns


def exact(ns: int) -> datetime:
    """The µs-truncated instant of ns, by integer divmod alone (no floats, no timedelta)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(0, UTC) + timedelta(seconds=seconds, microseconds=rest // 1000)


def test_every_reader_and_writer_uses_the_one_conversion() -> None:
    for module in (
        api.queries,
        api.routes.scans,
        services.commands,
        services.interpret,
        services.rebuild,
    ):
        assert module.ns_to_datetime is storage.ns_to_datetime, module.__name__


def test_many_timestamps_agree_with_exact_arithmetic() -> None:
    # A seeded sweep: this year's ns (where the floor's timestamps are), the ends of the
    # int64 range, and the µs boundaries where a float conversion rounds the wrong way.
    rng = random.Random(11)
    now_ns = 1_764_547_200 * 10**9  # 2025-12-01
    values = [rng.randrange(now_ns, now_ns + 366 * 86_400 * 10**9) for _ in range(50_000)]
    values += [rng.randrange(MIN_NS, MAX_NS) for _ in range(10_000)]
    values += [now_ns + k * 1000 + d for k in range(1000) for d in (0, 499, 500, 501, 999)]
    float_disagrees = 0
    for ns in values:
        at = ns_to_datetime(ns)
        assert at == exact(ns), ns
        assert datetime_to_ns(at) == ns - ns % 1000, ns
        if EPOCH.year <= at.year <= 2100:
            # what the API once did: rounds to the nearest µs through a float
            float_disagrees += datetime.fromtimestamp(ns / 1e9, tz=UTC) != at
    assert float_disagrees > 1000  # the divergence this module removed is real


@given(st.datetimes(min_value=datetime(1678, 1, 1), max_value=datetime(2262, 1, 1)))
def test_a_datetime_survives_storage(at: datetime) -> None:
    aware = at.replace(tzinfo=UTC)
    assert ns_to_datetime(datetime_to_ns(aware)) == aware


@given(st.integers(min_value=MIN_NS, max_value=MAX_NS))
def test_any_int64_ns_reads_back_exactly(ns: int) -> None:
    assert ns_to_datetime(ns) == exact(ns)
