"""Corrections (issue 14): containers unsealed, seal numbers corrected, containers
cancelled; drums written off, moved, disposed of by QC. Each a command stored as an event,
with its audit row, and back after a restart."""

from __future__ import annotations

import json

from gudang.influx import InfluxClient
from gudang.settings import Settings
from gudang.wire import ContainerStateV1, ContainerStatus, QcResult, ScanKind
from tests.harness import running_services, wait_for
from tests.services.kit import CONTAINER, OTHER_CONTAINER, Floorkit, comparable, drum, rows


def _scan_result(influx: InfluxClient, site: str, barcode: str, n: int = 1) -> tuple[str, str]:
    """(result, reason) of the newest stored scan of a barcode, once ``n`` are stored."""
    found = wait_for(
        lambda: (
            (got := rows(influx, "scan", site, f"barcode = '{barcode}'")) and len(got) >= n and got
        ),
        what=f"{n} scans of {barcode} stored",
    )
    newest = max(found, key=lambda r: int(r["time"]))
    return str(newest["result"]), str(newest.get("reason") or "")


def _fill_two_drums(kit: Floorkit) -> ContainerStateV1:
    """Open CONTAINER for two drums and load both at load-1; its state once both are in."""
    kit.open_at(CONTAINER, "load-1", capacity_drums=2)
    kit.scan("load-1", drum(1))
    kit.scan("load-1", drum(2))
    return kit.wait_drums(CONTAINER, 2)


def test_scans_into_a_full_sealed_cancelled_or_missing_container_are_refused_with_the_reason(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    site = settings.site.name
    with running_services(settings):
        assert _fill_two_drums(kit).status is ContainerStatus.FULL
        kit.scan("load-1", drum(3))
        assert _scan_result(influx, site, drum(3)) == ("rejected", f"container {CONTAINER} is full")

        kit.ok("container/seal", container_no=CONTAINER, seal_no="S-1")
        kit.scan("load-2", CONTAINER, kind=ScanKind.CONTAINER)
        assert _scan_result(influx, site, CONTAINER, 2) == (
            "rejected",
            f"container {CONTAINER} is sealed",
        )
        kit.scan("load-2", OTHER_CONTAINER, kind=ScanKind.CONTAINER)
        assert _scan_result(influx, site, OTHER_CONTAINER) == (
            "rejected",
            f"container {OTHER_CONTAINER} is not open",
        )
        kit.ok("container/open", container_no=OTHER_CONTAINER)
        kit.ok("container/cancel", container_no=OTHER_CONTAINER, reason="wrong number")
        kit.scan("load-2", OTHER_CONTAINER, kind=ScanKind.CONTAINER)
        assert _scan_result(influx, site, OTHER_CONTAINER, 2) == (
            "rejected",
            f"container {OTHER_CONTAINER} is cancelled",
        )
        # Nothing was counted by the refusals.
        assert kit.wait_drums(CONTAINER, 2).drums_by_sku == {"JMB-L": 2}


def test_container_corrections_unseal_correct_seal_cancel_stored_and_rebuilt(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    site = settings.site.name
    with running_services(settings):
        _fill_two_drums(kit)
        kit.ok("container/seal", container_no=CONTAINER, seal_no="EMCS-1")

        no_reason = kit.command("container/correct-seal", container_no=CONTAINER, seal_no="X")
        assert (no_reason.ok, no_reason.code) == (False, 400)
        fixed = kit.ok(
            "container/correct-seal",
            actor="supervisor",
            container_no=CONTAINER,
            seal_no="EMCS-7",
            reason="typo",
        )
        assert (fixed["status"], fixed["seal_no"]) == ("sealed", "EMCS-7")

        unsealed = kit.ok(
            "container/unseal", actor="supervisor", container_no=CONTAINER, reason="customs"
        )
        # Two drums in a two-drum container: full again, no seal.
        assert (unsealed["status"], unsealed["seal_no"]) == ("full", None)
        # Its full alert, cleared by the seal, is raised again.
        wait_for(
            lambda: (
                [a.state for a in kit.alerts_of("container_full", ("raised", "cleared"))]
                == ["raised", "cleared", "raised"]
            ),
            what="full again",
        )
        twice = kit.command("container/unseal", container_no=CONTAINER, reason="again")
        assert (twice.ok, twice.code) == (False, 409)
        assert "only a sealed container" in (twice.error or "")
        # Unsealed, it takes corrections again: a drum out, another in.
        kit.ok("container/unload", container_no=CONTAINER, drum=drum(2))
        kit.point_at("load-1", CONTAINER)
        kit.scan("load-1", drum(3))
        kit.wait_drums(CONTAINER, 2)
        kit.ok("container/seal", container_no=CONTAINER, seal_no="EMCS-8")
        kit.ok("container/ship", container_no=CONTAINER)
        late = kit.command("container/unseal", container_no=CONTAINER, reason="too late")
        assert (late.ok, late.code) == (False, 409)

        kit.open_at(OTHER_CONTAINER, "load-2")
        kit.scan("load-2", drum(4))
        kit.wait_drums(OTHER_CONTAINER, 1)
        loaded = kit.command("container/cancel", container_no=OTHER_CONTAINER, reason="x")
        assert (loaded.ok, loaded.code) == (False, 409)
        assert "unload them first" in (loaded.error or "")
        kit.ok("container/unload", container_no=OTHER_CONTAINER, drum=drum(4))
        cancelled = kit.ok(
            "container/cancel", actor="supervisor", container_no=OTHER_CONTAINER, reason="x"
        )
        assert cancelled["status"] == "cancelled"
        wait_for(
            lambda: (s := kit.station("load-2")) and s.active_container is None,
            what="station let go of the cancelled container",
        )
        before = {n: comparable(kit.container(n)) for n in (CONTAINER, OTHER_CONTAINER)}
        stock_before = kit.stock().items if kit.stock() else None

    events = rows(influx, "container_event", site, f"container_no = '{CONTAINER}'")
    assert [e["event"] for e in events] == [
        "open",
        "seal",
        "correct_seal",
        "unseal",
        "unload",
        "seal",
        "ship",
    ]
    correction = events[2]
    assert (correction["seal_no"], correction["previous_seal_no"]) == ("EMCS-7", "EMCS-1")
    assert (correction["actor"], correction["reason"]) == ("supervisor", "typo")
    assert (events[3]["seal_no"], events[3]["reason"]) == ("EMCS-7", "customs")
    audit = rows(influx, "audit", site, "command = 'container/correct-seal'")
    assert len(audit) == 1  # the refused one left no audit row
    assert audit[0]["actor"] == "supervisor"
    assert audit[0]["container_no"] == CONTAINER
    assert json.loads(audit[0]["args"])["seal_no"] == "EMCS-7"
    assert json.loads(audit[0]["result"])["seal_no"] == "EMCS-7"

    kit.retained.clear()
    with running_services(settings) as services:
        floor = services.ingest.floor
        assert floor.containers[OTHER_CONTAINER].status is ContainerStatus.CANCELLED
        for number, state in before.items():
            after = wait_for(lambda n=number: kit.container(n), what=f"{number} republished")
            assert comparable(after) == state
        assert (wait_for(kit.stock, what="stock").items or None) == stock_before
        # A cancelled number can be opened again.
        reopened = kit.ok("container/open", container_no=OTHER_CONTAINER)
        assert (reopened["status"], reopened["drums"]) == ("open", 0)


def test_stock_corrections_write_off_move_qc_disposal_stored_and_rebuilt(
    settings: Settings, kit: Floorkit, influx: InfluxClient
) -> None:
    site = settings.site.name
    with running_services(settings):
        kit.receive(drum(1), drum(2), drum(3), drum(4))
        kit.scan("recv-1", drum(5), qc=QcResult.REJECT)
        kit.scan("recv-1", drum(6), qc=QcResult.REWORK)
        kit.wait_stock("JMB-L", {"warehouse": 4, "qc-reject": 1, "qc-rework": 1}, "received")
        bad = kit.command("stock/write-off", drum=drum(1), reason="broken")
        assert (bad.ok, bad.code) == (False, 400)
        gone = kit.ok(
            "stock/write-off", actor="supervisor", drum=drum(1), reason="damaged", note="jatuh"
        )
        assert (gone["from_location"], gone["to_location"]) == ("warehouse", "written-off")
        again = kit.command("stock/write-off", drum=drum(1), reason="lost")
        assert (again.ok, again.code) == (False, 409)
        unknown = kit.command("stock/write-off", drum=drum(99), reason="lost")
        assert (unknown.ok, unknown.code) == (False, 404)

        moved = kit.ok("stock/move", drum=drum(2), location="rak-a1", reason="shelf")
        assert (moved["from_location"], moved["to_location"]) == ("warehouse", "rak-a1")
        kit.wait_stock("JMB-L", {"warehouse": 2, "rak-a1": 1}, "moved")
        to_qc = kit.command("stock/move", drum=drum(3), location="qc-reject", reason="x")
        assert (to_qc.ok, to_qc.code) == (False, 400)
        from_qc = kit.command("stock/move", drum=drum(5), location="rak-a1", reason="x")
        assert (from_qc.ok, from_qc.code) == (False, 409)

        reject_pass = kit.command("stock/qc-dispose", drum=drum(5), action="pass")
        assert (reject_pass.ok, reject_pass.code) == (False, 409)
        kit.ok("stock/qc-dispose", drum=drum(5), action="return", reason="kulit sobek")
        kit.ok("stock/qc-dispose", drum=drum(6), action="pass")
        kit.wait_stock(
            "JMB-L", {"warehouse": 3, "qc-reject": 0, "qc-rework": 0}, "QC disposals in stock"
        )

        kit.open_at(CONTAINER, "load-1")
        kit.scan("load-1", drum(2))  # from rak-a1
        kit.scan("load-1", drum(6))  # passed after rework: loadable
        kit.wait_drums(CONTAINER, 2)
        wait_for(lambda: kit.stock_of("JMB-L", "rak-a1") == 0, what="rak-a1 emptied")
        kit.scan("load-1", drum(1))
        assert _scan_result(influx, site, drum(1), 2) == (
            "rejected",
            "drum is written-off: receive it again before loading",
        )
        kit.scan("load-1", drum(5))
        assert _scan_result(influx, site, drum(5), 2) == (
            "rejected",
            "drum is returned-to-supplier: receive it again before loading",
        )
        in_container = kit.command("stock/write-off", drum=drum(2), reason="lost")
        assert (in_container.ok, in_container.code) == (False, 409)
        assert "unload it first" in (in_container.error or "")
        # Found again: received back into stock.
        kit.scan("recv-1", drum(1))
        wait_for(lambda: kit.stock_of("JMB-L") == 3, what="found drum received back")
        kit.wait_drums(CONTAINER, 2)
        stock_before = kit.stock().items  # type: ignore[union-attr]
        container_before = comparable(kit.container(CONTAINER))

    events = rows(influx, "stock_event", site)
    assert [(e["event"], e["drum"], e["to_location"], e["actor"]) for e in events] == [
        ("write_off", drum(1), "written-off", "supervisor"),
        ("move", drum(2), "rak-a1", "tester"),
        ("qc_dispose", drum(5), "returned-to-supplier", "tester"),
        ("qc_dispose", drum(6), "warehouse", "tester"),
    ]
    assert (events[0]["reason"], events[0]["note"]) == ("damaged", "jatuh")
    kinds = [r["command"] for r in rows(influx, "audit", site, "command =~ /^stock/")]
    assert kinds == ["stock/write-off", "stock/move", "stock/qc-dispose", "stock/qc-dispose"]

    kit.retained.clear()
    with running_services(settings):
        assert wait_for(kit.stock, what="stock").items == stock_before  # type: ignore[union-attr]
        after = wait_for(lambda: kit.container(CONTAINER), what="container republished")
        assert comparable(after) == container_before
