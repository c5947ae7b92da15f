"""The SKU catalogue through the API: the admin adds a SKU, the next scan uses it with no
restart of anything, the stock and the site show it, and it is back after a restart."""

from __future__ import annotations

import httpx

from gudang.settings import Settings
from tests.api.conftest import CONTAINER, Stack, auth
from tests.harness import running_api, running_services, wait_for

XL = {
    "name": "Djembe extra large",
    "size": "XL",
    "min_kg": 10.0,
    "max_kg": 16.0,
    "hs_code": "9206.00",
    "gtin": "09501101530010",
    "capacity_drums": 1300,
    "unit_prices": {"USD": "31.50"},
    "packaging_kg": 1.2,
    "volume_m3": 0.21,
}


def _skus(url: str) -> dict[str, dict[str, object]]:
    r = httpx.get(f"{url}/api/v1/catalogue", headers=auth("worker"), timeout=15)
    assert r.status_code == 200, r.text
    return {s["sku"]: s for s in r.json()}


def test_admin_adds_a_sku_used_by_the_next_scan_without_a_restart(
    stack: Stack, api_settings: Settings
) -> None:
    assert "JMB-XL" not in _skus(stack.url)
    r = httpx.put(f"{stack.url}/api/v1/catalogue/JMB-XL", json=XL, headers=auth("supervisor"))
    assert r.status_code == 403
    r = httpx.put(
        f"{stack.url}/api/v1/catalogue/JMB-XL",
        json={**XL, "hs_code": "not a code"},
        headers=auth("admin"),
    )
    assert r.status_code == 422
    r = httpx.put(
        f"{stack.url}/api/v1/catalogue/JMB-XL", json=XL, headers=auth("admin"), timeout=15
    )
    assert r.status_code == 200, r.text
    assert (r.json()["sku"], r.json()["capacity_drums"]) == ("JMB-XL", 1300)
    skus = wait_for(lambda: (s := _skus(stack.url)) and "JMB-XL" in s and s, what="catalogue")
    assert skus["JMB-XL"]["unit_prices"] == {"USD": "31.50"}
    site = stack.get("/api/v1/site", role="worker").json()
    assert "JMB-XL" in {s["sku"] for s in site["skus"]}

    r = stack.post("/api/v1/containers", {"container_no": CONTAINER, "sku": "JMB-XL"})
    assert (r.status_code, r.json()["capacity_drums"]) == (201, 1300)
    r = stack.put("/api/v1/stations/load-1/container", {"container_no": CONTAINER})
    assert r.status_code == 200, r.text
    stack.scan("CB-JMB-XL-000001", weight=12.5)
    c = stack.wait_drums(1)
    assert c["drums_by_sku"] == {"JMB-XL": 1}
    stock = stack.get("/api/v1/stock").json()
    assert {(i["sku"], i["description"]) for i in stock["items"]} == {
        ("JMB-XL", "Djembe extra large")
    }
    # A weight outside the new SKU's range is flagged, by the new SKU's limits.
    stack.scan("CB-JMB-XL-000002", weight=9.0)
    stack.wait_drums(2)
    scans = stack.get("/api/v1/scans", params={"container_no": CONTAINER}).json()
    assert {s["drum"]: s["out_of_range"] for s in scans} == {
        "CB-JMB-XL-000001": False,
        "CB-JMB-XL-000002": True,
    }

    r = httpx.post(f"{stack.url}/api/v1/catalogue/JMB-XL/retire", headers=auth("admin"), timeout=15)
    assert (r.status_code, r.json()["retired"]) == (200, True)
    r = httpx.post(f"{stack.url}/api/v1/catalogue/NOPE/retire", headers=auth("admin"), timeout=15)
    assert r.status_code == 404
    audit = stack.get("/api/v1/audit", params={"kind": "catalogue/set-sku"}).json()
    assert [(a["actor"], a["args"]["sku"]) for a in audit] == [("admin-1", "JMB-XL")]


def test_catalogue_changes_are_back_after_a_restart(api_settings: Settings) -> None:
    with running_services(api_settings), running_api(api_settings) as url:
        r = httpx.put(f"{url}/api/v1/catalogue/JMB-XL", json=XL, headers=auth("admin"), timeout=15)
        assert r.status_code == 200, r.text
        r = httpx.post(f"{url}/api/v1/catalogue/JMB-S/retire", headers=auth("admin"), timeout=15)
        assert r.status_code == 200, r.text
        before = wait_for(
            lambda: (s := _skus(url)) and s["JMB-S"]["retired"] and "JMB-XL" in s and s,
            what="changes in the API",
        )
    with running_services(api_settings), running_api(api_settings) as url:
        after = wait_for(
            lambda: (s := _skus(url)) and "JMB-XL" in s and s, what="catalogue after restart"
        )
        assert after == before
