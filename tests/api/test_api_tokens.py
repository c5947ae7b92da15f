"""People: the admin makes, lists and revokes tokens; stored hashed as events, rebuilt.

One mechanism with the phones' tokens (tests/api/test_api_phone_tokens.py); against real
servers, and the dashboard flow "a token revoked mid-stream" in Chromium.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from gudang.influx import quote_str
from tests.api.conftest import CONTAINER, TOKENS, Stack
from tests.api.test_api_dashboard import _sign_in, browser  # noqa: F401 (a fixture)
from tests.api.test_api_phone_tokens import rebuilt_tokens
from tests.api.test_api_stream import _next, sse_events
from tests.harness import influx_rows, wait_for


def _make(stack: Stack, name: str, role: str, station: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "role": role}
    if station:
        body["station"] = station
    r = stack.as_token(TOKENS["admin"], "POST", "/api/v1/tokens", body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _token_events(stack: Stack) -> list[dict[str, Any]]:
    return influx_rows(
        stack.settings.influx, f"SELECT * FROM token_event WHERE site = {quote_str(stack.site)}"
    )


def test_admin_makes_a_token_that_has_its_role_and_is_stored_hashed(stack: Stack) -> None:
    made = _make(stack, "budi", "supervisor")
    token = made["token"]
    assert made["name"] == "budi"
    assert made["role"] == "supervisor"
    assert made["station"] is None
    assert made["issued_by"] == "admin-1"

    # It has its role: a supervisor's action is accepted and carries its name as the actor.
    r = stack.as_token(token, "GET", "/api/v1/site")
    assert r.json()["me"] == {"name": "budi", "role": "supervisor"}
    r = stack.as_token(token, "POST", "/api/v1/containers", {"container_no": CONTAINER})
    assert r.status_code == 201, r.text
    audit = wait_for(
        lambda: [
            a
            for a in stack.get("/api/v1/audit", role="admin").json()
            if a.get("command") == "container/open"
        ],
        what="the container's opening in the audit trail",
    )
    assert audit[0]["actor"] == "budi"
    # ... and nothing of the admin's.
    assert stack.as_token(token, "GET", "/api/v1/tokens").status_code == 403

    # Listed for the admin with the configuration file's tokens; never the token itself.
    listed = stack.as_token(TOKENS["admin"], "GET", "/api/v1/tokens").json()
    assert {(t["name"], t["role"], t["source"]) for t in listed} == {
        ("worker-1", "worker", "config"),
        ("supervisor-1", "supervisor", "config"),
        ("admin-1", "admin", "config"),
        ("budi", "supervisor", "dashboard"),
    }
    assert token not in str(listed)

    # Stored as a token event: the hash, never the token.
    issued = wait_for(lambda: _token_events(stack), what="the token event stored")
    assert issued[0]["event"] == "phone_token_issue"
    assert issued[0]["token"] == "budi"
    assert issued[0]["role"] == "supervisor"
    assert issued[0]["actor"] == "admin-1"
    assert token not in str(issued)

    # A name taken (the file's or the dashboard's) is refused; a bad one too.
    body = {"name": "worker-1", "role": "admin"}
    assert stack.as_token(TOKENS["admin"], "POST", "/api/v1/tokens", body).status_code == 409
    body = {"name": "budi", "role": "worker"}
    assert stack.as_token(TOKENS["admin"], "POST", "/api/v1/tokens", body).status_code == 409
    body = {"name": "Budi Santoso", "role": "worker"}
    assert stack.as_token(TOKENS["admin"], "POST", "/api/v1/tokens", body).status_code == 422
    body = {"name": "phone-x-abcdef", "role": "worker"}
    assert stack.as_token(TOKENS["admin"], "POST", "/api/v1/tokens", body).status_code == 422
    # Nobody below the admin makes one: a supervisor's token cannot make an admin.
    body = {"name": "eve", "role": "admin"}
    assert stack.as_token(token, "POST", "/api/v1/tokens", body).status_code == 403
    assert stack.as_token(TOKENS["worker"], "POST", "/api/v1/tokens", body).status_code == 403
    # The configuration file's tokens keep working beside.
    assert stack.as_token(TOKENS["worker"], "GET", "/api/v1/containers").status_code == 200


def test_a_worker_token_at_a_station_scans_there_only(stack: Stack) -> None:
    made = _make(stack, "sari", "worker", station="load-1")
    assert made["station"] == "load-1"
    assert stack.as_token(made["token"], "GET", "/api/v1/containers").status_code == 403
    # A supervisor sees it with the station's phones (it scans there only), cannot revoke it
    # through the phones' route: that takes phones' names only.
    assert "sari" in [t["name"] for t in stack.get("/api/v1/phone-tokens").json()]
    r = stack.as_token(TOKENS["supervisor"], "DELETE", "/api/v1/phone-tokens/sari")
    assert r.status_code == 422


def test_revoked_at_once_in_the_api_and_its_stream_then_rebuilt(stack: Stack) -> None:
    kept = _make(stack, "kept", "worker")
    gone = _make(stack, "gone", "worker")
    with sse_events(stack.url, gone["token"]) as events:
        assert _next(events, "status")[1] == 200
        _next(events, "snapshot")
        r = stack.as_token(TOKENS["admin"], "DELETE", "/api/v1/tokens/gone")
        assert r.status_code == 200, r.text
        assert r.json()["name"] == "gone"
        # The stream says so and ends.
        assert _next(events, "revoked", timeout=20)[1] == {"token": "gone"}
    assert stack.as_token(gone["token"], "GET", "/api/v1/containers").status_code == 401
    assert stack.as_token(kept["token"], "GET", "/api/v1/containers").status_code == 200
    assert stack.as_token(TOKENS["admin"], "DELETE", "/api/v1/tokens/gone").status_code == 404
    # A configuration file's token is not the dashboard's to revoke.
    assert stack.as_token(TOKENS["admin"], "DELETE", "/api/v1/tokens/worker-1").status_code == 404
    wait_for(
        lambda: any(e["event"] == "phone_token_revoke" for e in _token_events(stack)),
        what="the revoke event stored",
    )

    # A second services instance, started from InfluxDB alone, has the revocation too.
    tokens = rebuilt_tokens(stack)
    assert [(t.name, t.role, t.station) for t in tokens] == [("kept", "worker", None)]


def test_dashboard_admin_makes_and_revokes_a_token_mid_stream(
    stack: Stack,
    browser: Browser,  # noqa: F811
) -> None:
    admin = browser.new_page(viewport={"width": 1440, "height": 1000})
    worker = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        _sign_in(admin, stack.url, TOKENS["admin"])
        admin.click("#people-open")
        admin.fill("#people-name", "wati")
        admin.select_option("#people-role", "worker")
        admin.click("#people-make")
        shown = admin.locator("#people-token")
        expect(shown).not_to_be_empty(timeout=20_000)
        token = shown.inner_text().strip()
        expect(admin.locator('#people-list [data-token="wati"]')).to_be_visible()

        # The worker signs in with it and watches the live stream.
        _sign_in(worker, stack.url, token)
        expect(worker.locator("#live")).to_have_attribute("data-state", "on", timeout=20_000)

        admin.locator('#people-list [data-token="wati"] [data-revoke]').click()
        expect(admin.locator('#people-list [data-token="wati"]')).to_have_count(0)
        # Mid-stream: the worker's dashboard is signed out, told why.
        expect(worker.locator("#login")).to_be_visible(timeout=20_000)
        expect(worker.locator("#login-error")).not_to_be_empty()
        assert worker.evaluate("localStorage.getItem('gudang.token')") is None
    finally:
        admin.close()
        worker.close()
