"""Alert noise on the dashboard: a grouped alert shows its count, and a supervisor
acknowledges every alert of one kind with one click (POST /alerts/kinds/{kind}/ack)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from gudang.settings import Settings
from gudang.wire import AlertKind
from tests.api.conftest import TOKENS, Stack
from tests.api.test_api_dashboard import _sign_in, browser  # noqa: F401 (a fixture)
from tests.harness import wait_for

# Every kind but unknown_barcode reaches the dashboard's alert list (alerts.dashboard_kinds).
SHOWN = [k.value for k in AlertKind if k is not AlertKind.UNKNOWN_BARCODE]


@pytest.fixture
def api_settings(api_settings: Settings) -> Settings:
    """The tests' settings, with unknown barcodes kept off the dashboard's alert list."""
    alerts = api_settings.alerts.model_copy(update={"dashboard_kinds": SHOWN})
    return api_settings.model_copy(update={"alerts": alerts})


def _raised(stack: Stack, kind: str) -> list[dict[str, object]]:
    alerts = stack.get("/api/v1/alerts", params={"kind": kind}).json()
    return [a for a in alerts if a["state"] == "raised"]


def test_grouped_count_and_a_kind_acknowledged_at_once(
    stack: Stack,
    browser: Browser,  # noqa: F811
) -> None:
    stack.open_and_point()
    stack.scan("CB-JMB-L-000001", 9.1)
    stack.wait_drums(1)
    for _ in range(3):
        stack.scan("CB-JMB-L-000001", 9.1)  # three duplicates: one alert, counting
    for n in (2, 3, 4):
        stack.scan(f"CB-JMB-L-00000{n}", 40.0)  # three drums out of range: three alerts
    wait_for(lambda: len(_raised(stack, "weight_out_of_range")) == 3, 20, "weight alerts")
    wait_for(
        lambda: [a["data"]["count"] for a in _raised(stack, "duplicate_scan")] == [3],
        20,
        "the duplicates counted",
    )
    stack.scan("NOT-A-LABEL", None)  # an unknown barcode: raised, but not on the list
    wait_for(lambda: _raised(stack, "unknown_barcode"), 20, "the unknown barcode's alert")
    assert stack.get("/api/v1/site").json()["alert_list_kinds"] == SHOWN
    # A worker may not acknowledge them all.
    refused = stack.post("/api/v1/alerts/kinds/weight_out_of_range/ack", role="worker")
    assert refused.status_code == 403

    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        _sign_in(page, stack.url, TOKENS["supervisor"])
        dup = page.locator('#alerts [data-alert^="duplicate_scan-"]')
        expect(dup.locator("[data-count]")).to_have_attribute("data-count", "3")
        expect(page.locator('#alerts [data-alert^="weight_out_of_range-"]')).to_have_count(3)
        assert page.locator('#alerts [data-alert^="unknown_barcode-"]').count() == 0
        button = page.locator('#alert-kinds [data-ack-kind="weight_out_of_range"]')
        expect(button).to_contain_text("Konfirmasi semua")
        expect(button).to_contain_text("(3)")
        assert page.locator('#alert-kinds [data-ack-kind="duplicate_scan"]').count() == 0
        button.click()
        expect(page.locator('#alerts [data-alert^="weight_out_of_range-"]')).to_have_count(0)
        expect(dup).to_have_count(1)  # another kind stays
    finally:
        page.close()
    assert _raised(stack, "weight_out_of_range") == []
    audit = wait_for(
        lambda: [a for a in stack.get("/api/v1/audit").json() if a["command"] == "alert/ack-kind"],
        what="the command in the audit trail",
    )
    assert audit[0]["actor"] == "supervisor-1"
    assert len(audit[0]["result"]["acknowledged"]) == 3


def test_the_admin_changes_the_alert_routing_live(stack: Stack) -> None:
    seeded = stack.get("/api/v1/alerts/routing").json()
    assert seeded["dashboard_kinds"] == SHOWN
    assert seeded["set_by"] is None
    wanted = {"dashboard_kinds": ["container_full"], "webhook_kinds": ["weight_out_of_range"]}
    # Workers and supervisors may not; a kind that does not exist is refused.
    for role in ("worker", "supervisor"):
        assert stack.put("/api/v1/alerts/routing", wanted, role=role).status_code == 403
    bad = stack.put("/api/v1/alerts/routing", {"dashboard_kinds": ["nope"]}, role="admin")
    assert bad.status_code == 422
    r = stack.put("/api/v1/alerts/routing", wanted, role="admin")
    assert r.status_code == 200, r.text
    assert r.json()["set_by"] == "admin-1"
    # Applied live: the dashboard's list kinds follow without a restart.
    wait_for(
        lambda: stack.get("/api/v1/site").json()["alert_list_kinds"] == ["container_full"],
        20,
        "the site's alert list kinds",
    )
    now = stack.get("/api/v1/alerts/routing").json()
    assert (now["webhook_kinds"], now["set_by"]) == (["weight_out_of_range"], "admin-1")
    audit = wait_for(
        lambda: [a for a in stack.get("/api/v1/audit").json() if a["command"] == "alerts/routing"],
        what="the command in the audit trail",
    )
    assert audit[0]["actor"] == "admin-1"


def test_the_admin_routes_alert_kinds_from_the_people_dialog(
    stack: Stack,
    browser: Browser,  # noqa: F811
) -> None:
    stack.scan("NOT-A-LABEL", None)  # an unknown barcode: raised, off the list at first
    wait_for(lambda: _raised(stack, "unknown_barcode"), 20, "the unknown barcode's alert")
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        _sign_in(page, stack.url, TOKENS["supervisor"])
        expect(page.locator("#people-open")).to_be_hidden()  # a supervisor has no such control
        page.close()
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        _sign_in(page, stack.url, TOKENS["admin"])
        unknown = page.locator('#alerts [data-alert^="unknown_barcode-"]')
        expect(unknown).to_have_count(0)
        page.click("#people-open")
        dash = page.locator('#routing [data-routing="dashboard"]')
        expect(dash.locator('input[value="container_full"]')).to_be_checked()
        expect(dash.locator('input[value="unknown_barcode"]')).not_to_be_checked()
        expect(page.locator("#routing")).to_contain_text("Rute peringatan")
        for box in dash.locator("input").all():
            box.uncheck()
        dash.locator('input[value="unknown_barcode"]').check()
        hooks = page.locator('#routing [data-routing="webhooks"]')
        hooks.locator('input[value="container_full"]').check()
        page.click("#routing-save")
        expect(page.locator("#people-note")).to_contain_text("Rute disimpan")
        page.keyboard.press("Escape")
        expect(unknown).to_have_count(1)  # now on the list, at once
    finally:
        page.close()
    now = stack.get("/api/v1/alerts/routing").json()
    assert (now["dashboard_kinds"], now["webhook_kinds"]) == (
        ["unknown_barcode"],
        ["container_full"],
    )
    assert now["set_by"] == "admin-1"
    wait_for(
        lambda: stack.get("/api/v1/site").json()["alert_list_kinds"] == ["unknown_barcode"],
        20,
        "the site's alert list kinds",
    )
