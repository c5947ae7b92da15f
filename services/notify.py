"""What each notification target is sent: its filter, its request body and its headers.

The outbox (services.outbox) keeps every delivery as the alert transition's AlertV1 JSON,
one queue per target; the body each target gets is made from it when it is sent:

- ``alert``: the AlertV1 JSON as it is (``alerts.webhooks`` are such targets);
- ``telegram``: the Bot API's ``sendMessage``: ``{"chat_id", "text"}``, the text in the
  site's language (``site.language``) with times in the site's zone (WIB in Java);
- ``signed``: ``{"v": 1, "site", "text", "alert": AlertV1}``, with the headers
  ``X-Gudang-Timestamp`` (Unix seconds) and ``X-Gudang-Signature: sha256=<hex>``, the
  HMAC-SHA256 of ``<timestamp>.<body>`` under the target's ``secret``. A receiver
  recomputes it and refuses a body whose timestamp is old (a replay).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from gudang.settings import NotifySettings, SiteSettings
from gudang.wire import AlertKind, AlertState, AlertV1, alert_decoder

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
SIGNATURE_HEADER = "X-Gudang-Signature"
TIMESTAMP_HEADER = "X-Gudang-Timestamp"

# Indonesia's zones by the names people use; another zone shows its own name.
ZONE_NAMES = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA"}
ZONE_NAMES["Asia/Jayapura"] = "WIT"

KIND_WORDS: dict[str, dict[AlertKind, str]] = {
    "id": {
        AlertKind.CONTAINER_NEARLY_FULL: "Kontainer hampir penuh",
        AlertKind.CONTAINER_FULL: "Kontainer penuh",
        AlertKind.CONTAINER_OVERWEIGHT: "Kontainer kelebihan berat",
        AlertKind.WEIGHT_OUT_OF_RANGE: "Berat di luar batas",
        AlertKind.DUPLICATE_SCAN: "Scan ganda",
        AlertKind.WRONG_CONTAINER: "Kontainer salah",
        AlertKind.UNKNOWN_BARCODE: "Barcode tidak dikenal",
        AlertKind.SCALE_ERROR: "Timbangan bermasalah",
        AlertKind.SCALE_DRIFT: "Timbangan bergeser dari nol",
        AlertKind.SCALE_UNSTABLE: "Timbangan tidak stabil",
        AlertKind.STATION_OFFLINE: "Stasiun terputus",
        AlertKind.SPOOL_NEARLY_FULL: "Antrean stasiun hampir penuh",
        AlertKind.STATION_ERROR: "Stasiun bermasalah",
        AlertKind.STORAGE_UNREACHABLE: "Basis data tidak terjangkau",
        AlertKind.BROKER_UNREACHABLE: "Broker MQTT tidak terjangkau",
        AlertKind.CLOCK_SKEW: "Jam stasiun salah",
    },
    "en": {
        AlertKind.CONTAINER_NEARLY_FULL: "Container nearly full",
        AlertKind.CONTAINER_FULL: "Container full",
        AlertKind.CONTAINER_OVERWEIGHT: "Container overweight",
        AlertKind.WEIGHT_OUT_OF_RANGE: "Weight out of range",
        AlertKind.DUPLICATE_SCAN: "Duplicate scan",
        AlertKind.WRONG_CONTAINER: "Wrong container",
        AlertKind.UNKNOWN_BARCODE: "Unknown barcode",
        AlertKind.SCALE_ERROR: "Scale error",
        AlertKind.SCALE_DRIFT: "Scale drifted from zero",
        AlertKind.SCALE_UNSTABLE: "Scale unstable",
        AlertKind.STATION_OFFLINE: "Station offline",
        AlertKind.SPOOL_NEARLY_FULL: "Station spool nearly full",
        AlertKind.STATION_ERROR: "Station error",
        AlertKind.STORAGE_UNREACHABLE: "Database unreachable",
        AlertKind.BROKER_UNREACHABLE: "MQTT broker unreachable",
        AlertKind.CLOCK_SKEW: "Station clock wrong",
    },
}
STATE_WORDS = {
    "id": {
        AlertState.RAISED: "Muncul",
        AlertState.ACKNOWLEDGED: "Dikonfirmasi",
        AlertState.CLEARED: "Selesai",
    },
    "en": {
        AlertState.RAISED: "Raised",
        AlertState.ACKNOWLEDGED: "Acknowledged",
        AlertState.CLEARED: "Cleared",
    },
}
SEVERITY_WORDS = {
    "id": {"info": "INFO", "warning": "PERINGATAN", "critical": "KRITIS"},
    "en": {"info": "INFO", "warning": "WARNING", "critical": "CRITICAL"},
}
OTHER_WORDS = {
    "id": {"by": "oleh", "station": "stasiun", "times": "kali"},
    "en": {"by": "by", "station": "station", "times": "times"},
}
MONTHS = {
    "id": ["Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"],
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
}


def wants(target: NotifySettings, alert: AlertV1) -> bool:
    """Whether ``target`` gets this alert transition (its kinds and least severity)."""
    if target.kinds and alert.kind.value not in target.kinds:
        return False
    return SEVERITY_RANK[alert.severity] >= SEVERITY_RANK[target.min_severity]


def local_time(at: datetime, site: SiteSettings) -> str:
    """A time as people on the site read it: ``1 Des 2026 14:03 WIB``."""
    zone = ZoneInfo(site.timezone)
    t = at.astimezone(zone)
    month = MONTHS[site.language][t.month - 1]
    name = ZONE_NAMES.get(site.timezone, site.timezone)
    return f"{t.day} {month} {t.year} {t:%H:%M} {name}"


def text(alert: AlertV1, site: SiteSettings) -> str:
    """The alert transition in words, in the site's language, times in its zone."""
    lang = site.language
    words = OTHER_WORDS[lang]
    head = f"{SEVERITY_WORDS[lang][alert.severity]} · {KIND_WORDS[lang][alert.kind]}"
    if alert.subject:
        head += f" · {alert.subject}"
    lines = [head]
    if alert.station and alert.station != alert.subject:
        lines.append(f"{words['station']} {alert.station}")
    count = alert.data.get("count")
    if isinstance(count, int) and count > 1:
        lines.append(f"{count} {words['times']}")
    at = {
        AlertState.RAISED: alert.raised_at,
        AlertState.ACKNOWLEDGED: alert.acknowledged_at or alert.raised_at,
        AlertState.CLEARED: alert.cleared_at or alert.raised_at,
    }[alert.state]
    when = f"{STATE_WORDS[lang][alert.state]} {local_time(at, site)}"
    if alert.state is AlertState.ACKNOWLEDGED and alert.acknowledged_by:
        when += f" {words['by']} {alert.acknowledged_by}"
    lines.append(when)
    lines.append(site.name)
    return "\n".join(lines)


def request(
    target: NotifySettings, alert_json: bytes, site: SiteSettings, now: float | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery to ``target``, from the stored AlertV1 JSON."""
    headers = {"Content-Type": "application/json"}
    if target.format == "alert":
        return alert_json, headers
    alert = alert_decoder.decode(alert_json)
    if target.format == "telegram":
        payload = {"chat_id": target.chat_id, "text": text(alert, site)}
        return json.dumps(payload, ensure_ascii=False).encode(), headers
    body = (
        b'{"v":1,"site":'
        + json.dumps(site.name).encode()
        + b',"text":'
        + json.dumps(text(alert, site), ensure_ascii=False).encode()
        + b',"alert":'
        + alert_json
        + b"}"
    )
    stamp = str(int(now if now is not None else time.time()))
    headers[TIMESTAMP_HEADER] = stamp
    headers[SIGNATURE_HEADER] = "sha256=" + sign(target.secret, stamp, body)
    return body, headers


def sign(secret: str, stamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``<stamp>.<body>`` under ``secret``."""
    return hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
