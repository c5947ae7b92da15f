"""The commands the services take on ``gudang/<site>/command/<name>`` (docs/protocol.md).

Each command checks the floor's state (FloorError -> a refusal with an HTTP-like code),
changes it, and adds its event to the batch, so the event is stored in InfluxDB before
the reply goes out and a rebuild applies it again. The ingest's interpreter hands each
command message to ``Commands.run``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import msgspec
from pydantic import ValidationError

from gudang.barcodes import BarcodeError, ContainerNo
from gudang.influx import FieldValue
from gudang.settings import SkuSettings
from gudang.storage import (
    CATALOGUE_EVENT,
    CONTAINER_EVENT,
    EVENT,
    SETTING_EVENT,
    SHIPMENT,
    SKU_SPEC,
    STATION_EVENT,
    STOCKTAKE_EVENT,
    TAG_CONTAINER_NO,
    TAG_SETTING,
    TAG_SKU,
    TAG_STATION,
    TAG_STOCKTAKE,
    TAG_TOKEN,
    TOKEN_EVENT,
    Event,
    ns_to_datetime,
)
from gudang.wire import (
    INCOTERMS,
    AlertKind,
    AlertKindAckV1,
    AlertState,
    Command,
    CommandV1,
    ReplyV1,
    ShipmentV1,
    check_name,
    encode,
)
from services import alerts as rules
from services.alerts import AlertBook
from services.floor import Floor, FloorError
from services.records import (
    Stamper,
    audit_line,
    event_line,
    shipped_drum_lines,
    stock_event_line,
)

Result = dict[str, Any] | None
# A SKU key of the catalogue (what drum labels carry: JMB-L).
SKU_RE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,31}$")
_CURRENCY = re.compile(r"[A-Z]{3}")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# A token's name: what the audit trail and the logs show as the actor.
_TOKEN_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,47}$")
_ROLES = ("worker", "supervisor", "admin")


def _arg(cmd: CommandV1, name: str) -> str:
    value = cmd.args.get(name)
    if value is None or str(value).strip() == "":
        raise FloorError(f"{name} is required", code=400)
    return str(value).strip()


def _shipment(cmd: CommandV1, at: datetime) -> ShipmentV1:
    """The shipment record of a command, checked, stamped with who set it and when."""
    given = cmd.args.get("shipment")
    if not isinstance(given, dict):
        raise FloorError(
            "shipment is required: an object of the record's fields (data pengapalan wajib diisi)",
            code=400,
        )
    try:
        shipment = msgspec.convert(given, ShipmentV1)
    except msgspec.ValidationError as exc:
        raise FloorError(
            f"invalid shipment record (data pengapalan tidak sah): {exc}", code=400
        ) from exc
    if shipment.incoterm and shipment.incoterm not in INCOTERMS:
        raise FloorError(
            f"incoterm {shipment.incoterm!r} is not an Incoterm 2020 (bukan Incoterm 2020)",
            code=400,
        )
    if shipment.currency and not _CURRENCY.fullmatch(shipment.currency):
        raise FloorError(
            f"currency {shipment.currency!r} is not an ISO 4217 code (bukan kode mata uang "
            "ISO 4217)",
            code=400,
        )
    for name in ("freight", "insurance"):
        value = getattr(shipment, name)
        if value is not None and (not value.is_finite() or value < 0):
            raise FloorError(
                f"{name} must be zero or more, not {value} (tidak boleh negatif)", code=400
            )
    return msgspec.structs.replace(shipment, set_by=cmd.actor, set_at=at)


def _opt(cmd: CommandV1, name: str) -> str | None:
    value = cmd.args.get(name)
    return str(value).strip() or None if value is not None else None


def _container_of(cmd: CommandV1, result: Result) -> str | None:
    """The compact number of the container a command concerns, for the audit's filter."""
    for value in (cmd.args.get("container_no"), (result or {}).get("container_no")):
        if value:
            try:
                return ContainerNo.parse(str(value)).value
            except BarcodeError:
                continue
    return None


def _view(struct: msgspec.Struct) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(struct)
    return out


Handler = Callable[[CommandV1, datetime, list[str]], Result]


class Commands:
    """The command handlers, given the floor and alerts they change and the clock they stamp."""

    def __init__(self, site: str, floor: Floor, alerts: AlertBook, stamp: Stamper) -> None:
        self.site = site
        self.floor = floor
        self.alerts = alerts
        self.stamp = stamp
        self.table: dict[str, Handler] = {
            Command.CONTAINER_OPEN.value: self._cmd_open_container,
            Command.CONTAINER_SEAL.value: self._cmd_seal,
            Command.CONTAINER_SHIP.value: self._cmd_ship,
            Command.CONTAINER_UNLOAD.value: self._cmd_unload,
            Command.CONTAINER_SHIPMENT.value: self._cmd_shipment,
            Command.CONTAINER_UNSEAL.value: self._cmd_unseal,
            Command.CONTAINER_CORRECT_SEAL.value: self._cmd_correct_seal,
            Command.CONTAINER_CANCEL.value: self._cmd_cancel,
            Command.STOCK_WRITE_OFF.value: self._cmd_write_off,
            Command.STOCK_MOVE.value: self._cmd_move,
            Command.STOCK_QC_DISPOSE.value: self._cmd_qc_dispose,
            Command.CATALOGUE_SET_SKU.value: self._cmd_set_sku,
            Command.CATALOGUE_RETIRE_SKU.value: self._cmd_retire_sku,
            Command.STOCKTAKE_OPEN.value: self._cmd_open_count,
            Command.STOCKTAKE_CLOSE.value: self._cmd_close_count,
            Command.STOCKTAKE_APPROVE.value: self._cmd_approve_count,
            Command.STATION_SET_CONTAINER.value: self._cmd_set_container,
            Command.STATION_SET_MODE.value: self._cmd_set_mode,
            Command.ALERT_ACK.value: self._cmd_alert_ack,
            Command.ALERT_ACK_KIND.value: self._cmd_alert_ack_kind,
            Command.ALERT_ROUTING.value: self._cmd_alert_routing,
            Command.PHONE_TOKEN_ISSUE.value: self._cmd_phone_token_issue,
            Command.PHONE_TOKEN_REVOKE.value: self._cmd_phone_token_revoke,
        }

    def run(self, name: str, cmd: CommandV1, now: datetime, lines: list[str]) -> ReplyV1:
        """Carry out one command (its events added to ``lines``); the reply says how it went."""
        handler = self.table.get(name)
        if handler is None:
            return ReplyV1(
                request_id=cmd.request_id, ok=False, code=404, error=f"unknown command {name!r}"
            )
        try:
            result = handler(cmd, now, lines)
        except FloorError as exc:
            return ReplyV1(request_id=cmd.request_id, ok=False, code=exc.code, error=str(exc))
        except (ValueError, TypeError, KeyError) as exc:
            return ReplyV1(request_id=cmd.request_id, ok=False, code=400, error=str(exc))
        # Accepted: its audit row goes with its events, in the same write.
        lines.append(
            audit_line(
                self.site,
                name,
                cmd.actor,
                cmd.request_id,
                cmd.args,
                result,
                _container_of(cmd, result),
                self.stamp(now),
            )
        )
        return ReplyV1(request_id=cmd.request_id, ok=True, result=result)

    def _event(
        self,
        lines: list[str],
        measurement: str,
        key: str,
        value: str,
        fields: Mapping[str, FieldValue | None],
        cmd: CommandV1,
        ts_ns: int,
    ) -> None:
        stored = {**fields, "actor": cmd.actor, "request_id": cmd.request_id}
        lines.append(event_line(measurement, self.site, key, value, stored, ts_ns))

    # -- containers --------------------------------------------------------------------------
    def _cmd_open_container(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        a = cmd.args
        # The event's stored time is the container's opening time, live and rebuilt alike.
        ts = self.stamp(now)
        c = self.floor.open_container(
            _arg(cmd, "container_no"),
            container_type=str(a.get("container_type") or "40HC"),
            capacity_drums=int(a["capacity_drums"]) if a.get("capacity_drums") else None,
            max_payload_kg=float(a["max_payload_kg"]) if a.get("max_payload_kg") else None,
            at=ns_to_datetime(ts),
            sku=_opt(cmd, "sku"),
        )
        fields: dict[str, FieldValue | None] = {
            EVENT: Event.OPEN.value,
            "container_type": c.container_type,
            "capacity_drums": c.capacity_drums,
            "max_payload_kg": float(c.max_payload_kg),
            "sku": _opt(cmd, "sku"),  # the SKU it was opened for (its capacity came from it)
        }
        self._event(lines, CONTAINER_EVENT, TAG_CONTAINER_NO, c.container_no, fields, cmd, ts)
        return _view(c.view(now))

    def _cmd_seal(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        c = self.floor.seal(_arg(cmd, "container_no"), _arg(cmd, "seal_no"))
        fields: dict[str, FieldValue | None] = {EVENT: Event.SEAL.value, "seal_no": c.seal_no}
        ts = self.stamp(now)
        self._event(lines, CONTAINER_EVENT, TAG_CONTAINER_NO, c.container_no, fields, cmd, ts)
        rules.on_container(self.alerts, self.floor.settings, c, now)
        return _view(c.view(now))

    def _cmd_ship(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        c = self.floor.container(_arg(cmd, "container_no"))
        # Its drums leave memory as it ships: where they went is stored with the event.
        drums = {d: self.floor.drum_sku.get(d, "") for d in c.drums}
        c = self.floor.ship(c.container_no)
        fields: dict[str, FieldValue | None] = {EVENT: Event.SHIP.value}
        ts = self.stamp(now)
        self._event(lines, CONTAINER_EVENT, TAG_CONTAINER_NO, c.container_no, fields, cmd, ts)
        lines.extend(shipped_drum_lines(self.site, c.container_no, drums, ts))
        rules.on_container(self.alerts, self.floor.settings, c, now)
        return _view(c.view(now))

    def _cmd_unload(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        number = _arg(cmd, "container_no")
        key, sku, weight = self.floor.unload(number, _arg(cmd, "drum"))
        c = self.floor.container(number)
        fields: dict[str, FieldValue | None] = {
            EVENT: Event.UNLOAD.value,
            "drum": key,
            "sku": sku,
            "weight_kg": float(weight),
            "reason": str(cmd.args.get("reason") or "") or None,
        }
        ts = self.stamp(now)
        self._event(lines, CONTAINER_EVENT, TAG_CONTAINER_NO, c.container_no, fields, cmd, ts)
        rules.on_unload(self.alerts, self.floor.settings, c, key, now)
        return {**_view(c.view(now)), "drum": key}

    def _cmd_shipment(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        number = _arg(cmd, "container_no")
        ts = self.stamp(now)
        shipment = _shipment(cmd, ns_to_datetime(ts))
        c = self.floor.set_shipment(number, shipment)
        fields: dict[str, FieldValue | None] = {
            EVENT: Event.SHIPMENT.value,
            SHIPMENT: encode(shipment).decode(),
        }
        self._event(lines, CONTAINER_EVENT, TAG_CONTAINER_NO, c.container_no, fields, cmd, ts)
        return _view(c.view(now))

    def _cmd_unseal(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        reason = _arg(cmd, "reason")
        number = _arg(cmd, "container_no")
        was = self.floor.container(number).seal_no
        c = self.floor.unseal(number)
        fields: dict[str, FieldValue | None] = {
            EVENT: Event.UNSEAL.value,
            "seal_no": was,
            "reason": reason,
        }
        ts = self.stamp(now)
        self._event(lines, CONTAINER_EVENT, TAG_CONTAINER_NO, c.container_no, fields, cmd, ts)
        rules.on_container(self.alerts, self.floor.settings, c, now)
        return _view(c.view(now))

    def _cmd_correct_seal(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        reason = _arg(cmd, "reason")
        number = _arg(cmd, "container_no")
        was = self.floor.container(number).seal_no
        c = self.floor.correct_seal(number, _arg(cmd, "seal_no"))
        fields: dict[str, FieldValue | None] = {
            EVENT: Event.CORRECT_SEAL.value,
            "seal_no": c.seal_no,
            "previous_seal_no": was,
            "reason": reason,
        }
        ts = self.stamp(now)
        self._event(lines, CONTAINER_EVENT, TAG_CONTAINER_NO, c.container_no, fields, cmd, ts)
        return _view(c.view(now))

    def _cmd_cancel(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        reason = _arg(cmd, "reason")
        c = self.floor.cancel(_arg(cmd, "container_no"))
        fields: dict[str, FieldValue | None] = {EVENT: Event.CANCEL.value, "reason": reason}
        ts = self.stamp(now)
        self._event(lines, CONTAINER_EVENT, TAG_CONTAINER_NO, c.container_no, fields, cmd, ts)
        rules.on_container(self.alerts, self.floor.settings, c, now)
        return _view(c.view(now))

    # -- stock corrections -------------------------------------------------------------------
    def _stock_event(
        self,
        lines: list[str],
        event: Event,
        cmd: CommandV1,
        now: datetime,
        drum: str,
        sku: str,
        was: str,
        to: str,
        reason: str | None,
        action: str | None = None,
    ) -> Result:
        fields: dict[str, FieldValue | None] = {
            EVENT: event.value,
            "action": action,
            "drum": drum,
            "sku": sku,
            "from_location": was,
            "to_location": to,
            "reason": reason,
            "note": _opt(cmd, "note"),
            "actor": cmd.actor,
            "request_id": cmd.request_id,
        }
        lines.append(stock_event_line(self.site, fields, self.stamp(now)))
        return {
            "drum": drum,
            "sku": sku,
            "from_location": was,
            "to_location": to,
            "reason": reason,
            "note": fields["note"],
        }

    def _cmd_write_off(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        reason = _arg(cmd, "reason")
        key, sku, was = self.floor.write_off(_arg(cmd, "drum"), reason)
        return self._stock_event(
            lines, Event.WRITE_OFF, cmd, now, key, sku, was, self.floor.drum_location[key], reason
        )

    def _cmd_move(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        reason = _arg(cmd, "reason")
        key, sku, was = self.floor.move(_arg(cmd, "drum"), _arg(cmd, "location"))
        return self._stock_event(
            lines, Event.MOVE, cmd, now, key, sku, was, self.floor.drum_location[key], reason
        )

    def _cmd_qc_dispose(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        action = _arg(cmd, "action")
        key, sku, was, to = self.floor.qc_dispose(_arg(cmd, "drum"), action)
        result = self._stock_event(
            lines, Event.QC_DISPOSE, cmd, now, key, sku, was, to, _opt(cmd, "reason"), action
        )
        return {**(result or {}), "action": action}

    # -- stocktakes ---------------------------------------------------------------------------
    def _count_event(
        self,
        lines: list[str],
        event: Event,
        count_id: str,
        fields: dict[str, FieldValue | None],
        cmd: CommandV1,
        ts: int,
    ) -> None:
        self._event(
            lines, STOCKTAKE_EVENT, TAG_STOCKTAKE, count_id, {EVENT: event.value, **fields}, cmd, ts
        )

    def _cmd_open_count(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        location = _arg(cmd, "location")
        ts = self.stamp(now)
        # A short id people can read out: the location and the opening time.
        count_id = _opt(cmd, "stocktake_id")
        if count_id is None:
            ms = ts // 1_000_000
            while f"ST-{ms:X}" in self.floor.stocktakes:  # two opened in one millisecond
                ms += 1
            count_id = f"ST-{ms:X}"
        count = self.floor.open_stocktake(count_id, location, cmd.actor, ns_to_datetime(ts))
        self._count_event(lines, Event.OPEN_COUNT, count.id, {"location": location}, cmd, ts)
        return _view(count.view())

    def _cmd_close_count(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        ts = self.stamp(now)
        count = self.floor.close_stocktake(_arg(cmd, "stocktake_id"), ns_to_datetime(ts))
        view = count.view()
        differences = {
            "unexpected": view.unexpected,
            "missing": view.missing,
            "wrong_place": view.wrong_place,
        }
        fields: dict[str, FieldValue | None] = {
            "location": count.location,
            "result": msgspec.json.encode(differences).decode(),
        }
        self._count_event(lines, Event.CLOSE_COUNT, count.id, fields, cmd, ts)
        return _view(view)

    def _cmd_approve_count(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        count_id = _arg(cmd, "stocktake_id")
        drums = cmd.args.get("drums")
        if drums is not None and not (
            isinstance(drums, list) and all(isinstance(d, str) for d in drums)
        ):
            raise FloorError("drums: a list of drum keys (daftar drum)", code=400)
        adjustments = self.floor.stocktake_adjustments(count_id, drums)
        for drum, sku, to in adjustments:
            was = self.floor.drum_location.get(drum) or ""
            self.floor.adjust(drum, sku, to)
            self._stock_event(
                lines, Event.STOCKTAKE, cmd, now, drum, sku, was, to, f"stocktake {count_id}"
            )
        count = self.floor.approve_stocktake(count_id, [])
        count.adjusted = sorted(d for d, _s, _t in adjustments)
        fields: dict[str, FieldValue | None] = {
            "location": count.location,
            "adjusted": msgspec.json.encode(count.adjusted).decode(),
        }
        self._count_event(lines, Event.APPROVE_COUNT, count_id, fields, cmd, self.stamp(now))
        return _view(count.view())

    # -- the SKU catalogue ------------------------------------------------------------------
    def _catalogue_event(
        self,
        lines: list[str],
        event: Event,
        sku: str,
        spec: SkuSettings,
        cmd: CommandV1,
        now: datetime,
    ) -> Result:
        fields: dict[str, FieldValue | None] = {
            EVENT: event.value,
            SKU_SPEC: msgspec.json.encode(spec.model_dump(mode="json")).decode(),
        }
        self._event(lines, CATALOGUE_EVENT, TAG_SKU, sku, fields, cmd, self.stamp(now))
        return {"sku": sku, **spec.model_dump(mode="json")}

    def _cmd_set_sku(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        sku = _arg(cmd, "sku")
        if not SKU_RE.match(sku):
            raise FloorError(
                f"SKU {sku!r}: upper-case letters, digits, '-', '.' or '_' (huruf besar, angka)",
                code=400,
            )
        given = cmd.args.get("spec")
        if not isinstance(given, dict):
            raise FloorError("spec is required: the SKU's fields", code=400)
        try:
            spec = SkuSettings.model_validate(given)
        except ValidationError as exc:
            raise FloorError(f"invalid SKU {sku}: {exc}", code=400) from exc
        if spec.min_kg > spec.max_kg:
            raise FloorError(f"SKU {sku}: min_kg above max_kg (berat min di atas maks)", code=400)
        self.floor.set_sku(sku, spec)
        return self._catalogue_event(lines, Event.SET_SKU, sku, spec, cmd, now)

    def _cmd_retire_sku(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        sku = _arg(cmd, "sku")
        spec = self.floor.retire_sku(sku)
        return self._catalogue_event(lines, Event.RETIRE_SKU, sku, spec, cmd, now)

    # -- stations ----------------------------------------------------------------------------
    def _known_station(self, cmd: CommandV1) -> str:
        """The command's station, if the site knows it (configured, or seen on MQTT)."""
        station = _arg(cmd, "station")
        if station not in self.floor.stations and station not in self.floor.settings.stations:
            raise FloorError(
                f"stasiun {station!r} tidak dikenal / unknown station {station!r}: not in "
                "floor.stations and never seen on MQTT (no scan, no status)",
                code=404,
            )
        return station

    def _cmd_set_container(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        station = self._known_station(cmd)
        number = cmd.args.get("container_no")
        compact = self.floor.set_active_container(station, str(number) if number else None)
        fields: dict[str, FieldValue | None] = {
            EVENT: Event.SET_CONTAINER.value,
            "container_no": compact or "",
        }
        ts = self.stamp(now)
        self._event(lines, STATION_EVENT, TAG_STATION, station, fields, cmd, ts)
        return _view(self.floor.station(station).view())

    def _cmd_set_mode(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        station = self._known_station(cmd)
        supplier = cmd.args.get("supplier")
        st = self.floor.set_mode(
            station,
            _arg(cmd, "mode"),
            str(supplier).strip() if supplier is not None else None,
            stocktake=_opt(cmd, "stocktake"),
        )
        fields: dict[str, FieldValue | None] = {
            EVENT: Event.SET_MODE.value,
            "mode": st.mode,
            "supplier": st.supplier or "",
            "stocktake": st.stocktake,
        }
        ts = self.stamp(now)
        self._event(lines, STATION_EVENT, TAG_STATION, station, fields, cmd, ts)
        return _view(st.view())

    # -- phones ------------------------------------------------------------------------------
    def _cmd_phone_token_issue(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        # Any valid station: a phone may be the only scanner of a station not seen yet.
        raw_station = _opt(cmd, "station")
        station = check_name("station", raw_station) if raw_station else None
        name = _arg(cmd, "name")
        if not _TOKEN_NAME.match(name):
            raise ValueError(
                f"invalid token name {name!r}: 1-48 characters a-z, 0-9, '.', '-' or '_'"
            )
        role = str(cmd.args.get("role") or "worker")
        if role not in _ROLES:
            raise ValueError(f"role: one of {', '.join(_ROLES)}")
        sha256 = _arg(cmd, "sha256")
        if not _SHA256.match(sha256):
            raise ValueError("sha256: the token's hex SHA-256 (64 characters 0-9 a-f)")
        ts = self.stamp(now)
        token = self.floor.issue_phone_token(
            station,
            name,
            sha256,
            ns_to_datetime(ts),
            cmd.actor,
            role=role,  # type: ignore[arg-type]
        )
        fields: dict[str, FieldValue | None] = {
            EVENT: Event.PHONE_TOKEN_ISSUE.value,
            "name": token.name,
            "sha256": token.sha256,
            "role": token.role,
        }
        self._token_event(lines, token.station, token.name, fields, cmd, ts)
        return _view(token)

    def _cmd_phone_token_revoke(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        token = self.floor.revoke_phone_token(_arg(cmd, "name"))
        fields: dict[str, FieldValue | None] = {
            EVENT: Event.PHONE_TOKEN_REVOKE.value,
            "name": token.name,
        }
        self._token_event(lines, token.station, token.name, fields, cmd, self.stamp(now))
        return _view(token)

    def _token_event(
        self,
        lines: list[str],
        station: str | None,
        name: str,
        fields: dict[str, FieldValue | None],
        cmd: CommandV1,
        ts: int,
    ) -> None:
        # A phone's token is its station's event (as it always was); any other a token's own.
        if station is not None:
            self._event(lines, STATION_EVENT, TAG_STATION, station, fields, cmd, ts)
        else:
            self._event(lines, TOKEN_EVENT, TAG_TOKEN, name, fields, cmd, ts)

    # -- alerts ------------------------------------------------------------------------------
    def _cmd_alert_ack_kind(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        # Each alert's own transition is stored (measurement ``alert``), as one by one.
        kind = _arg(cmd, "kind")
        if kind not in {k.value for k in AlertKind}:
            raise ValueError(f"kind: not an alert kind: {kind!r}")
        # Those raised now, whenever they came: the asker's page may not have had them yet.
        done = self.alerts.acknowledge_kind(AlertKind(kind), cmd.actor, now)
        return _view(
            AlertKindAckV1(
                kind=AlertKind(kind),
                acknowledged=[a.id for a in done],
                cleared=[a.id for a in done if a.state is AlertState.CLEARED],
                acknowledged_by=cmd.actor,
                acknowledged_at=now,
            )
        )

    def _cmd_alert_routing(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        # Stored as a setting_event with its actor; the floor holds it (checkpoint, rebuild).
        known = {k.value for k in AlertKind}
        lists: dict[str, list[str]] = {}
        for name in ("dashboard_kinds", "webhook_kinds"):
            given = cmd.args.get(name)
            if not isinstance(given, list) or not all(isinstance(k, str) for k in given):
                raise FloorError(
                    f"{name}: a list of alert kinds (daftar jenis peringatan)", code=400
                )
            unknown = sorted(set(given) - known)
            if unknown:
                raise FloorError(
                    f"{name}: unknown alert kinds (jenis tidak dikenal): {', '.join(unknown)}",
                    code=400,
                )
            lists[name] = given
        ts = self.stamp(now)
        routing = self.floor.set_alert_routing(
            lists["dashboard_kinds"], lists["webhook_kinds"], cmd.actor, ns_to_datetime(ts)
        )
        fields: dict[str, FieldValue | None] = {
            EVENT: Event.ALERT_ROUTING.value,
            "dashboard_kinds": msgspec.json.encode(routing.dashboard_kinds).decode(),
            "webhook_kinds": msgspec.json.encode(routing.webhook_kinds).decode(),
        }
        self._event(lines, SETTING_EVENT, TAG_SETTING, Event.ALERT_ROUTING.value, fields, cmd, ts)
        result: dict[str, Any] = msgspec.to_builtins(routing)
        return result

    def _cmd_alert_ack(self, cmd: CommandV1, now: datetime, lines: list[str]) -> Result:
        # Stored as the alert's own transition (measurement ``alert``), with the batch.
        alert = self.alerts.acknowledge(_arg(cmd, "alert_id"), cmd.actor, now)
        return _view(alert)
