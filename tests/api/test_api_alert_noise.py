"""Alert noise on the dashboard: a grouped alert shows its count, and a supervisor
acknowledges every alert of one kind with one click (POST /alerts/kinds/{kind}/ack)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from gudang.settings import Settings
from gudang.wire import AlertKind
from tests.api.conftest import CONTAINER, CONTAINER_2, TOKENS, Stack
from tests.api.test_api_dashboard import _sign_in, browser  # noqa: F401 (a fixture)
from tests.harness import wait_for

# Every kind but unknown_barcode reaches the dashboard's alert list (alerts.dashboard_kinds).
SHOWN = [k.value for k in AlertKind if k is not AlertKind.UNKNOWN_BARCODE]
CONTAINER_3 = "TGHU1234567"  # ISO 6346 valid, a third container
# What another page's stream brings: generous, the machine may be busy.
STREAM_TIMEOUT_MS = 20_000


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
        expect(page.locator("#alert-kinds-done")).to_be_hidden()
        # One more after the page loaded: the stream brings it, the click takes it too.
        stack.scan("CB-JMB-L-000005", 40.0)
        expect(button).to_contain_text("(4)", timeout=STREAM_TIMEOUT_MS)
        button.click()
        expect(page.locator('#alerts [data-alert^="weight_out_of_range-"]')).to_have_count(0)
        expect(dup).to_have_count(1)  # another kind stays
        # What it did stays on the page, in the language shown.
        done = page.locator("#alert-kinds-done")
        expect(done).to_have_attribute("data-acked", "4")
        expect(done).to_contain_text("Berat di luar batas: 4 peringatan dikonfirmasi pukul")
        page.click("#lang-en")
        expect(done).to_contain_text("Weight out of range: 4 acknowledged at")
    finally:
        page.close()
    assert _raised(stack, "weight_out_of_range") == []
    audit = wait_for(
        lambda: [a for a in stack.get("/api/v1/audit").json() if a["command"] == "alert/ack-kind"],
        what="the command in the audit trail",
    )
    assert audit[0]["actor"] == "supervisor-1"
    assert len(audit[0]["result"]["acknowledged"]) == 4
    assert sorted(audit[0]["result"]["cleared"]) == sorted(audit[0]["result"]["acknowledged"])


def _nearly_full(stack: Stack, container: str, station: str, label: str) -> str:
    """Open ``container`` for 10 kg at ``station`` and load a 9.6 kg ``label``: nearly full (an
    informational condition, not cleared by its acknowledgement); its alert's id."""
    r = stack.post("/api/v1/containers", {"container_no": container, "max_payload_kg": 10})
    assert r.status_code == 201, r.text
    r = stack.put(f"/api/v1/stations/{station}/container", {"container_no": container})
    assert r.status_code == 200, r.text
    stack.scan(label, 9.6, station=station)
    found = wait_for(
        lambda: [a for a in _raised(stack, "container_nearly_full") if a["subject"] == container],
        20,
        f"{container} nearly full",
    )
    return str(found[0]["id"])


def test_acknowledge_all_acts_on_what_is_open_when_it_runs(stack: Stack) -> None:
    """POST /alerts/kinds/{kind}/ack: every alert of the kind raised when the services run
    it (one raised after the asker looked too); one acknowledged already stays as it was."""
    first = _nearly_full(stack, CONTAINER, "load-1", "CB-JMB-L-000011")
    second = _nearly_full(stack, CONTAINER_2, "load-2", "CB-JMB-L-000012")
    # What the supervisor's page had when it loaded.
    seen = {a["id"] for a in _raised(stack, "container_nearly_full")}
    assert seen == {first, second}
    # Meanwhile the admin acknowledges one, and a third container fills up.
    r = stack.post(f"/api/v1/alerts/{first}/ack", role="admin")
    assert (r.status_code, r.json()["acknowledged_by"]) == (200, "admin-1"), r.text
    third = _nearly_full(stack, CONTAINER_3, "load-3", "CB-JMB-L-000013")

    r = stack.post("/api/v1/alerts/kinds/container_nearly_full/ack")
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["kind"] == "container_nearly_full"
    assert sorted(done["acknowledged"]) == sorted([second, third])
    assert done["cleared"] == []  # a condition: it stays until the container is sealed
    assert done["acknowledged_by"] == "supervisor-1"
    assert done["acknowledged_at"]

    def states() -> dict[str, tuple[str, str]]:
        alerts = stack.get("/api/v1/alerts", params={"kind": "container_nearly_full"}).json()
        return {a["id"]: (a["state"], a["acknowledged_by"]) for a in alerts}

    wait_for(
        lambda: (
            states()
            == {
                first: ("acknowledged", "admin-1"),  # untouched: the admin's acknowledgement
                second: ("acknowledged", "supervisor-1"),
                third: ("acknowledged", "supervisor-1"),
            }
        ),
        20,
        "the three acknowledged, each by whom",
    )
    # Nothing raised is left: asked again, it acknowledges none, and says so.
    again = stack.post("/api/v1/alerts/kinds/container_nearly_full/ack")
    assert again.status_code == 200, again.text
    assert (again.json()["acknowledged"], again.json()["cleared"]) == ([], [])


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
    """The admin's routing reaches the admin's own list at once, and a supervisor's
    dashboard open meanwhile through the stream, without a reload."""
    stack.open_and_point()
    stack.scan("NOT-A-LABEL", None)  # an unknown barcode: raised, off the list at first
    for n in (1, 2):
        stack.scan(f"CB-JMB-L-00000{n}", 40.0)  # two drums out of range: on the list
    wait_for(lambda: _raised(stack, "unknown_barcode"), 20, "the unknown barcode's alert")
    wait_for(lambda: len(_raised(stack, "weight_out_of_range")) == 2, 20, "the weight alerts")
    watcher = browser.new_page(viewport={"width": 1440, "height": 1000})
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        _sign_in(watcher, stack.url, TOKENS["supervisor"])
        expect(watcher.locator("#people-open")).to_be_hidden()  # a supervisor has no such control
        # Marks this page: a reload would lose it.
        watcher.evaluate("window.loadedOnce = true")
        watched_unknown = watcher.locator('#alerts [data-alert^="unknown_barcode-"]')
        watched_weight = watcher.locator('#alerts [data-alert^="weight_out_of_range-"]')
        expect(watched_unknown).to_have_count(0)
        expect(watched_weight).to_have_count(2)
        expect(
            watcher.locator('#alert-kinds [data-ack-kind="weight_out_of_range"]')
        ).to_be_visible()

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

        # The supervisor's dashboard, open all along, follows: the unknown barcode on its
        # list, the weight alerts and their "acknowledge all" off it; not reloaded.
        expect(watched_unknown).to_have_count(1, timeout=STREAM_TIMEOUT_MS)
        expect(watched_weight).to_have_count(0, timeout=STREAM_TIMEOUT_MS)
        expect(watcher.locator('#alert-kinds [data-ack-kind="weight_out_of_range"]')).to_have_count(
            0
        )
        assert watcher.evaluate("window.loadedOnce") is True
        # And back, from the API this time: every kind listed again.
        r = stack.put(
            "/api/v1/alerts/routing", {"dashboard_kinds": [], "webhook_kinds": []}, "admin"
        )
        assert r.status_code == 200, r.text
        expect(watched_weight).to_have_count(2, timeout=STREAM_TIMEOUT_MS)
        expect(watched_unknown).to_have_count(1)
        assert watcher.evaluate("window.loadedOnce") is True
    finally:
        page.close()
        watcher.close()
    now = stack.get("/api/v1/alerts/routing").json()
    assert (now["dashboard_kinds"], now["webhook_kinds"], now["set_by"]) == ([], [], "admin-1")
    wait_for(
        lambda: stack.get("/api/v1/site").json()["alert_list_kinds"] == [],
        20,
        "the site's alert list kinds",
    )


def test_an_open_people_dialog_follows_another_admins_routing(
    stack: Stack,
    browser: Browser,  # noqa: F811
) -> None:
    """A second admin's People dialog, open while the first saves routing, ticks its boxes
    afresh; with ticks of its own not saved it keeps them and says that the routing changed
    meanwhile (id and en), takes the saved routing when asked, or saves its own over it."""
    r = stack.as_token(
        TOKENS["admin"], "POST", "/api/v1/tokens", {"name": "admin-2", "role": "admin"}
    )
    assert r.status_code == 201, r.text
    second_token = r.json()["token"]
    first = browser.new_page(viewport={"width": 1440, "height": 1000})
    second = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        _sign_in(second, stack.url, second_token)
        second.click("#people-open")
        dash = second.locator('#routing [data-routing="dashboard"]')
        hooks = second.locator('#routing [data-routing="webhooks"]')
        expect(dash.locator('input[value="container_full"]')).to_be_checked()
        expect(dash.locator('input[value="unknown_barcode"]')).not_to_be_checked()
        changed = second.locator("#routing-changed")
        theirs = second.locator("#routing-theirs")
        expect(changed).to_be_hidden()
        second.evaluate("window.loadedOnce = true")  # a reload would lose it

        # The first admin saves from their dialog: the second's boxes follow, and say so.
        _sign_in(first, stack.url, TOKENS["admin"])
        first.click("#people-open")
        mine = first.locator('#routing [data-routing="dashboard"]')
        expect(mine.locator('input[value="container_full"]')).to_be_checked()
        for box in mine.locator("input").all():
            box.uncheck()
        mine.locator('input[value="unknown_barcode"]').check()
        first.locator('#routing [data-routing="webhooks"] input[value="container_full"]').check()
        first.click("#routing-save")
        expect(first.locator("#people-note")).to_contain_text("Rute disimpan")
        expect(dash.locator('input[value="unknown_barcode"]')).to_be_checked(
            timeout=STREAM_TIMEOUT_MS
        )
        expect(dash.locator("input:checked")).to_have_count(1)
        expect(hooks.locator("input:checked")).to_have_count(1)
        expect(hooks.locator('input[value="container_full"]')).to_be_checked()
        expect(changed).to_have_attribute("data-changed", "followed")
        expect(changed).to_contain_text("Rute diubah oleh admin-1 pukul")
        expect(theirs).to_be_hidden()
        expect(first.locator("#routing-changed")).to_be_hidden()  # its own save is no news

        # The second admin ticks a box and has not saved it when the first changes the
        # routing again (the API this time): the tick stays, a note says what happened.
        dash.locator('input[value="duplicate_scan"]').check()
        r = stack.put(
            "/api/v1/alerts/routing",
            {"dashboard_kinds": ["container_full"], "webhook_kinds": []},
            "admin",
        )
        assert r.status_code == 200, r.text
        expect(changed).to_have_attribute("data-changed", "meanwhile", timeout=STREAM_TIMEOUT_MS)
        expect(changed).to_contain_text("Rute diubah oleh admin-1 pukul")
        expect(changed).to_contain_text("selagi Anda mengubahnya")
        for kind in ("unknown_barcode", "duplicate_scan"):
            expect(dash.locator(f'input[value="{kind}"]')).to_be_checked()
        expect(dash.locator("input:checked")).to_have_count(2)
        expect(hooks.locator('input[value="container_full"]')).to_be_checked()
        # Asked to, the dialog takes the routing saved meanwhile.
        theirs.click()
        expect(dash.locator("input:checked")).to_have_count(1)
        expect(dash.locator('input[value="container_full"]')).to_be_checked()
        expect(hooks.locator("input:checked")).to_have_count(0)
        expect(changed).to_be_hidden()
        # A change of the webhooks' part only is followed too (the dashboard's list is not).
        r = stack.put(
            "/api/v1/alerts/routing",
            {"dashboard_kinds": ["container_full"], "webhook_kinds": ["duplicate_scan"]},
            "admin",
        )
        assert r.status_code == 200, r.text
        expect(hooks.locator('input[value="duplicate_scan"]')).to_be_checked(
            timeout=STREAM_TIMEOUT_MS
        )
        expect(changed).to_have_attribute("data-changed", "followed")

        # In English, opened again: an edit kept the same way, then saved over theirs.
        second.keyboard.press("Escape")
        second.click("#lang-en")
        second.click("#people-open")
        expect(dash.locator('input[value="container_full"]')).to_be_checked()
        expect(hooks.locator('input[value="duplicate_scan"]')).to_be_checked()
        hooks.locator('input[value="scale_error"]').check()
        r = stack.put(
            "/api/v1/alerts/routing",
            {"dashboard_kinds": ["container_full", "unknown_barcode"], "webhook_kinds": []},
            "admin",
        )
        assert r.status_code == 200, r.text
        expect(changed).to_have_attribute("data-changed", "meanwhile", timeout=STREAM_TIMEOUT_MS)
        expect(changed).to_contain_text("admin-1 changed the routing at")
        expect(changed).to_contain_text("while you were editing")
        expect(dash.locator('input[value="unknown_barcode"]')).not_to_be_checked()
        second.click("#routing-save")
        expect(second.locator("#people-note")).to_contain_text("Routing saved")
        expect(changed).to_be_hidden()
        assert second.evaluate("window.loadedOnce") is True
    finally:
        first.close()
        second.close()
    now = stack.get("/api/v1/alerts/routing").json()
    assert (now["dashboard_kinds"], sorted(now["webhook_kinds"]), now["set_by"]) == (
        ["container_full"],
        ["duplicate_scan", "scale_error"],
        "admin-2",
    )
