"""The API alone: 64 clients on container GETs while the followed state changes.

    .venv/bin/python -m bench.api_bench                 # churn 1,200 state messages/s
    .venv/bin/python -m bench.api_bench --churn 0       # no state changes
    .venv/bin/python -m bench.api_bench --no-receipts   # state only, no receipts

Isolates the API from the ingest for A/B runs of API changes: a plain paho publisher
republishes the retained state of 24 containers and 24 stations at the rate the services
publish it while ingesting 1,000 scans/s (about 1,200 state messages a second) and, beside
each station's state, a receipt on its receipts topic (the services send one per station
per batch: about 600 a second), so the API's MQTT follower does the same work without the
services' CPU on the machine; "µs/state message" divides by the state messages only. Prints
p50/p99, requests/s and the API's CPU per request for a paced run (64 clients × 10 req/s)
and a closed-loop run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # `python bench/api_bench.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from stdnum import iso6346

from bench.api_load import run_api_load
from bench.floor import loading_state
from bench.procs import free_port, start_api, write_config
from bench.report import percentile_ms
from gudang.barcodes import BarcodeError, ContainerNo
from gudang.wire import (
    QOS_RECEIPT,
    QOS_STATE,
    ContainerStateV1,
    ReceiptV1,
    StationViewV1,
    Topics,
    encode,
)
from gudang_ops.servers import start_influxd, start_mosquitto

SITE = "apibench"
CONTAINERS = 24
CLIENTS = 64


def _numbers(n: int) -> list[str]:
    """``n`` valid container numbers."""
    out: list[str] = []
    serial = 100000
    while len(out) < n:
        base = f"GDGU{serial:06d}"
        serial += 1
        try:
            out.append(ContainerNo.parse(base + str(iso6346.calc_check_digit(base))).value)
        except BarcodeError:  # a check digit of 10: no number ends with it
            continue
    return out


def _state(number: str, drums: int, now: datetime) -> ContainerStateV1:
    return loading_state(
        number,
        drums,
        now,
        4.5,
        {"JMB-L": drums // 2, "JMB-M": drums - drums // 2},
        rate_drums_per_h=3600.0,
        forecast_full_at=now,
    )


class Churn(threading.Thread):
    """Republishes container and station state at ``rate`` messages/s (half each)."""

    def __init__(
        self, host: str, port: int, numbers: list[str], rate: float, receipts: bool = True
    ) -> None:
        super().__init__(daemon=True)
        self.topics = Topics(SITE)
        self.numbers = numbers
        self.rate = rate
        self.receipts = receipts
        self.stop = threading.Event()
        self.sent = 0
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.connect(host, port)
        self.client.loop_start()

    def publish_all(self, drums: int) -> None:
        now = datetime.now(UTC)
        for i, n in enumerate(self.numbers):
            self.client.publish(
                self.topics.state_container(n), encode(_state(n, drums, now)), QOS_STATE, True
            )
            view = StationViewV1(
                station=f"st{i:02d}", mode="loading", active_container=n, online=True, scans=drums
            )
            self.client.publish(self.topics.state_station(f"st{i:02d}"), encode(view), 1, True)
            if self.receipts:
                # The services receipt each station's scans after each write (not retained).
                receipt = ReceiptV1(station=f"st{i:02d}", ids=[f"{i:02d}{drums:030d}"])
                self.client.publish(
                    self.topics.receipts(f"st{i:02d}"), encode(receipt), QOS_RECEIPT
                )

    def run(self) -> None:
        if self.rate <= 0:
            return
        per_round = 2 * len(self.numbers)
        interval = per_round / self.rate
        drums = 1
        due = time.monotonic()
        while not self.stop.is_set():
            drums += 1
            self.publish_all(drums)
            self.sent += per_round
            due += interval
            delay = due - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)

    def close(self) -> None:
        self.stop.set()
        self.join(5)
        self.client.loop_stop()
        self.client.disconnect()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--churn", type=float, default=1200.0, help="state messages per second")
    p.add_argument(
        "--no-receipts",
        action="store_true",
        help="no receipts beside the state (the services send one per station per batch)",
    )
    p.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gudang-apibench-") as tmp:
        work = Path(tmp)
        mosquitto = start_mosquitto(work / "mosquitto")
        influxd = start_influxd(work / "influxdb")
        api = None
        churn = None
        try:
            port = free_port()
            config = write_config(work / "gudang.toml", SITE, mosquitto, influxd, port)
            numbers = _numbers(CONTAINERS)
            churn = Churn("127.0.0.1", mosquitto.port, numbers, args.churn, not args.no_receipts)
            churn.publish_all(1)
            api = start_api(config, port, work / "api.log")
            url = f"http://127.0.0.1:{port}"
            paths = [f"/api/v1/containers/{n}" for n in numbers]
            time.sleep(1.0)
            churn.start()
            sent0, cpu0 = churn.sent, api.cpu()
            time.sleep(args.seconds / 2)
            sent1, cpu1 = churn.sent, api.cpu()
            seconds = cpu1.at - cpu0.at
            print(
                f"{'no requests':14s} API CPU {100 * (cpu1.cpu_s - cpu0.cpu_s) / seconds:4.0f} %  "
                f"{1e6 * (cpu1.cpu_s - cpu0.cpu_s) / max(1, sent1 - sent0):5.0f} µs/state message"
                f" (churn {(sent1 - sent0) / seconds:.0f} msg/s)"
            )
            for shape, rate in (("64 x 10 req/s", 10.0), ("closed loop", 0.0)):
                sent0, cpu0 = churn.sent, api.cpu()
                result = run_api_load(url, paths, CLIENTS, args.seconds, rate)
                sent1, cpu1 = churn.sent, api.cpu()
                seconds = cpu1.at - cpu0.at
                cpu_s = cpu1.cpu_s - cpu0.cpu_s
                print(
                    f"{shape:14s} p50 {percentile_ms(result.latencies, 50):6.1f} ms  "
                    f"p99 {percentile_ms(result.latencies, 99):6.1f} ms  {result.rps:7.0f} req/s  "
                    f"errors {result.errors}  API CPU {100 * cpu_s / seconds:4.0f} %  "
                    f"{1e6 * cpu_s / max(1, len(result.latencies)):5.0f} µs/request "
                    f"(churn {(sent1 - sent0) / seconds:.0f} msg/s)"
                )
        finally:
            if churn is not None:
                churn.close()
            if api is not None:
                api.stop()
            mosquitto.stop()
            influxd.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
