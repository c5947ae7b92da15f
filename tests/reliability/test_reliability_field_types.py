"""Field types: a weight as an int is coerced, as a string refused before InfluxDB, and a
field-type conflict InfluxDB answers with 400 is dead-lettered, never retried forever.
"""

from __future__ import annotations

import json
import uuid
from contextlib import closing
from datetime import UTC, datetime

from bench.loadgen import drum_label, drum_scan
from gudang.influx import InfluxClient, quote_str
from gudang.settings import Settings
from gudang.wire import Topics, encode
from tests.harness import Probe, wait_for
from tests.reliability.kit import assert_ledger_stored_once, floor_with_stations

STATION = "p1-s000"


def _scan_payload(site: str, seq: int, weight: object) -> tuple[str, bytes]:
    sid = uuid.uuid4().hex
    body = json.loads(encode(drum_scan(site, STATION, sid, drum_label(1, 0, seq))))
    body["weight_kg"] = weight
    return sid, json.dumps(body).encode()


def test_reliability_weight_as_int_is_coerced_and_as_string_refused_before_influxdb(
    settings: Settings, influx: InfluxClient
) -> None:
    site = settings.site.name
    topics = Topics(site)
    with (
        closing(Probe(settings, topics.deadletter)) as probe,
        floor_with_stations(settings, [STATION]) as (services, url),
    ):
        good, as_int = _scan_payload(site, 0, 9)
        _bad, as_text = _scan_payload(site, 1, "9.5")
        probe.publish(topics.scan(STATION), as_int)
        probe.publish(topics.scan(STATION), as_text)
        letter = json.loads(probe.get().payload)
        assert "invalid scan payload" in letter["reason"]
        assert "weight_kg" in letter["reason"]
        assert_ledger_stored_once([good], influx, site, url)
        assert services.ingest.counters["write_retries"] == 0
    (row,) = influx.query(
        f"SELECT weight_kg FROM scan WHERE site = {quote_str(site)} AND id = {quote_str(good)}"
    )
    assert row["weight_kg"] == 9.0
    types = influx.query('SHOW FIELD KEYS FROM "scan"')
    assert {"fieldKey": "weight_kg", "fieldType": "float"} in [
        {"fieldKey": t["fieldKey"], "fieldType": t["fieldType"]} for t in types
    ]


def test_reliability_field_type_conflict_400_is_dead_lettered_and_the_stream_goes_on(
    settings: Settings, influx: InfluxClient
) -> None:
    site = settings.site.name
    topics = Topics(site)
    # Someone wrote weight_kg as a string into this week's shard: every float weight
    # written there now is refused by InfluxDB with 400 "field type conflict".
    now_ns = int(datetime.now(UTC).timestamp()) * 1_000_000_000
    influx.write([f'scan,site={site},station=legacy weight_kg="heavy" {now_ns}'])
    with (
        closing(Probe(settings, topics.deadletter)) as probe,
        floor_with_stations(settings, [STATION]) as (services, url),
    ):
        for seq in range(3):
            scan = drum_scan(site, STATION, uuid.uuid4().hex, drum_label(1, 0, seq))
            probe.publish(topics.scan(STATION), encode(scan))
        letters = [json.loads(probe.get().payload) for _ in range(3)]
        assert all("field type conflict" in x["reason"] for x in letters), letters
        assert {x["topic"] for x in letters} == {"influxdb"}
        # Not retried as if InfluxDB were down, and every message acknowledged.
        assert services.ingest.counters["write_retries"] == 0
        wait_for(
            lambda: services.ingest.counters["acked"] == services.ingest.counters["received"],
            what="every message acknowledged",
        )
        # The stream goes on: a scan without a weight is stored and counted.
        label = drum_scan(site, STATION, uuid.uuid4().hex, drum_label(1, 0, 9))
        label.weight_kg = None
        probe.publish(topics.scan(STATION), encode(label))
        assert_ledger_stored_once([label.id], influx, site, url)
    stored = influx.query(f"SELECT * FROM dead_letter WHERE site = {quote_str(site)}")
    assert sum("field type conflict" in str(r["reason"]) for r in stored) == 3
