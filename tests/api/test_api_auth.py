"""The auth matrix: every operation of the app, without a token, with a wrong one, each role."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.auth import DEMO_TOKENS, RedactTokens, hash_token
from gudang.settings import ConfigError, Settings, load_settings
from gudang_ops.servers import ServerProcess
from tests.api.conftest import CONTAINER, TOKENS, auth, token_settings
from tests.harness import running_api

OPEN = "open"
# The lowest role each operation needs. A route missing here fails the test below, so no
# new route escapes the matrix.
REQUIRED = {
    ("GET", "/api/v1/containers"): "worker",
    ("POST", "/api/v1/containers"): "supervisor",
    ("GET", "/api/v1/containers/{container_no}"): "worker",
    ("POST", "/api/v1/containers/{container_no}/seal"): "supervisor",
    ("POST", "/api/v1/containers/{container_no}/ship"): "supervisor",
    ("POST", "/api/v1/containers/{container_no}/unload"): "supervisor",
    ("GET", "/api/v1/containers/{container_no}/timeline"): "worker",
    ("GET", "/api/v1/containers/{container_no}/packing-list"): "worker",
    ("GET", "/api/v1/containers/{container_no}/packing-list.csv"): "worker",
    ("GET", "/api/v1/containers/{container_no}/packing-list.html"): "worker",
    ("GET", "/api/v1/containers/{container_no}/packing-list.pdf"): "worker",
    ("GET", "/api/v1/containers/{container_no}/shipment"): "supervisor",
    ("PUT", "/api/v1/containers/{container_no}/shipment"): "supervisor",
    ("GET", "/api/v1/containers/{container_no}/papers"): "supervisor",
    ("GET", "/api/v1/containers/{container_no}/papers/{document}"): "supervisor",
    ("GET", "/api/v1/stock"): "worker",
    ("POST", "/api/v1/containers/{container_no}/unseal"): "supervisor",
    ("POST", "/api/v1/containers/{container_no}/correct-seal"): "supervisor",
    ("POST", "/api/v1/containers/{container_no}/cancel"): "supervisor",
    ("POST", "/api/v1/stock/write-off"): "supervisor",
    ("POST", "/api/v1/stock/move"): "supervisor",
    ("POST", "/api/v1/stock/qc-disposal"): "supervisor",
    ("GET", "/api/v1/stock.csv"): "worker",
    ("GET", "/api/v1/scans.csv"): "worker",
    ("GET", "/api/v1/audit"): "supervisor",
    ("GET", "/api/v1/audit.csv"): "supervisor",
    ("GET", "/api/v1/audit/alerts"): "worker",
    ("GET", "/api/v1/catalogue"): "worker",
    ("GET", "/api/v1/stocktakes"): "worker",
    ("POST", "/api/v1/stocktakes"): "supervisor",
    ("GET", "/api/v1/stocktakes/{stocktake_id}"): "worker",
    ("POST", "/api/v1/stocktakes/{stocktake_id}/close"): "supervisor",
    ("POST", "/api/v1/stocktakes/{stocktake_id}/approve"): "supervisor",
    ("PUT", "/api/v1/catalogue/{sku}"): "admin",
    ("POST", "/api/v1/catalogue/{sku}/retire"): "admin",
    ("GET", "/api/v1/stations"): "worker",
    ("PUT", "/api/v1/stations/{station}/container"): "worker",
    ("PUT", "/api/v1/stations/{station}/mode"): "supervisor",
    ("POST", "/api/v1/stations/{station}/scans"): "worker",
    ("POST", "/api/v1/stations/{station}/phone-tokens"): "supervisor",
    ("GET", "/api/v1/phone-tokens"): "supervisor",
    ("DELETE", "/api/v1/phone-tokens/{name}"): "supervisor",
    ("POST", "/api/v1/tokens"): "admin",
    ("POST", "/api/v1/alerts/kinds/{kind}/ack"): "supervisor",
    ("GET", "/api/v1/alerts/routing"): "supervisor",
    ("PUT", "/api/v1/alerts/routing"): "admin",
    ("GET", "/api/v1/tokens"): "admin",
    ("DELETE", "/api/v1/tokens/{name}"): "admin",
    ("GET", "/api/v1/alerts"): "worker",
    ("POST", "/api/v1/alerts/{alert_id}/ack"): "supervisor",
    ("GET", "/api/v1/scans"): "worker",
    ("GET", "/api/v1/scans/hourly"): "worker",
    ("GET", "/api/v1/stream"): "worker",
    ("GET", "/api/v1/site"): "worker",
    ("GET", "/api/v1/admin/settings"): "admin",
    ("GET", "/api/v1/health"): OPEN,
    ("GET", "/api/v1/ready"): OPEN,
    ("GET", "/metrics"): "worker",
}
# Operations that also take the token as ?access_token= (EventSource, links).
QUERY_TOKEN = {
    ("GET", "/api/v1/stream"),
    ("GET", "/api/v1/stock.csv"),
    ("GET", "/api/v1/scans.csv"),
    ("GET", "/api/v1/audit.csv"),
    ("GET", "/api/v1/containers/{container_no}/packing-list"),
    ("GET", "/api/v1/containers/{container_no}/packing-list.csv"),
    ("GET", "/api/v1/containers/{container_no}/packing-list.html"),
    ("GET", "/api/v1/containers/{container_no}/packing-list.pdf"),
    ("GET", "/api/v1/containers/{container_no}/papers/{document}"),
}
ROLES = ["worker", "supervisor", "admin"]
PATH_VALUES = {
    "sku": "JMB-L",
    "stocktake_id": "ST-NOPE",
    "container_no": CONTAINER,
    "station": "load-1",
    "alert_id": "no-such-alert",
    "document": "invoice.pdf",
    "name": "phone-load-1-abc123",
    "kind": "duplicate_scan",
}


def _operations() -> list[tuple[str, str]]:
    """Every operation the app serves, from its own OpenAPI schema."""
    schema = create_app(load_settings()).openapi()
    return sorted((method.upper(), path) for path, ops in schema["paths"].items() for method in ops)


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def api_url(
    mosquitto: ServerProcess, influxd: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    # One API for the whole matrix: no services needed, nothing here reaches them.
    site = "t" + uuid.uuid4().hex[:12]
    settings = token_settings(
        mosquitto,
        influxd,
        site,
        tmp_path_factory.mktemp("auth"),
        # No services here: a command that passes auth times out, so time out quickly.
        api={"command_timeout_s": 0.3},
    )
    with running_api(settings) as url:
        yield url


def _status(
    url: str, method: str, path: str, headers: dict[str, str], params: dict[str, str]
) -> int:
    # Stream the response: only the status matters, and the event stream never ends.
    with (
        httpx.Client(timeout=10) as client,
        client.stream(
            method, url + path.format(**PATH_VALUES), headers=headers, params=params
        ) as r,
    ):
        return r.status_code


def test_every_operation_is_in_the_matrix() -> None:
    assert set(OPERATIONS) == set(REQUIRED), "add new routes to REQUIRED with their role"


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_auth_matrix(api_url: str, method: str, path: str) -> None:
    required = REQUIRED.get((method, path))
    assert required is not None, f"{method} {path} is not in the auth matrix"
    no_token = _status(api_url, method, path, {}, {})
    if required == OPEN:
        assert no_token not in (401, 403)
        return
    assert no_token == 401
    assert _status(api_url, method, path, {"Authorization": "Bearer not-a-token"}, {}) == 401
    assert _status(api_url, method, path, {"Authorization": "Basic d29ya2VyOng="}, {}) == 401
    # A demo token is refused where demo tokens are not allowed.
    assert _status(api_url, method, path, {"Authorization": "Bearer demo-admin"}, {}) == 401
    rank = ROLES.index(required)
    for role in ROLES[:rank]:
        assert _status(api_url, method, path, auth(role), {}) == 403, role
    for role in ROLES[rank:]:
        assert _status(api_url, method, path, auth(role), {}) not in (401, 403), role
    by_query = _status(api_url, method, path, {}, {"access_token": TOKENS[required]})
    if (method, path) in QUERY_TOKEN:
        assert by_query not in (401, 403)
    else:
        assert by_query == 401  # tokens in URLs only where a header cannot be sent


def test_demo_tokens_refused_outside_local_use() -> None:
    with pytest.raises(ConfigError, match="allow_demo_tokens is for local use only"):
        load_settings(None, {"api": {"host": "0.0.0.0", "allow_demo_tokens": True}})
    settings = load_settings(None, {"api": {"host": "127.0.0.1", "allow_demo_tokens": True}})
    assert settings.api.allow_demo_tokens
    assert set(DEMO_TOKENS) == {"demo-admin", "demo-supervisor", "demo-worker"}


def test_tokens_are_configured_hashed_and_never_logged(
    settings: Settings, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    secret = TOKENS["supervisor"]
    toml = tmp_path / "site.toml"
    toml.write_text(
        f'[[api.tokens]]\nname = "ops"\nrole = "supervisor"\nsha256 = "{hash_token(secret)}"\n'
    )
    from_file = load_settings(toml)
    assert from_file.api.tokens[0].sha256 == hash_token(secret)
    with pytest.raises(ConfigError, match="sha256"):
        load_settings(None, {"api": {"tokens": [{"name": "x", "role": "admin", "sha256": secret}]}})
    s = settings.model_copy(
        update={"api": settings.api.model_copy(update={"tokens": from_file.api.tokens})}
    )
    caplog.set_level(logging.DEBUG)
    with running_api(s) as url:
        ok = httpx.get(f"{url}/api/v1/site", headers={"Authorization": f"Bearer {secret}"})
        assert ok.json()["me"] == {"name": "ops", "role": "supervisor"}
        bad = httpx.get(f"{url}/api/v1/site", headers={"Authorization": f"Bearer {secret}x"})
        assert bad.status_code == 401
        r = httpx.get(
            f"{url}/api/v1/containers/{CONTAINER}/packing-list", params={"access_token": secret}
        )
        assert r.status_code == 404  # authorised, the container is not known
        admin = httpx.get(
            f"{url}/api/v1/admin/settings", headers={"Authorization": f"Bearer {secret}"}
        )
        assert admin.status_code == 403
        metrics = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {secret}"}).text
    assert 'gudang_api_auth_failures_total{reason="unknown_token"}' in metrics
    assert 'gudang_api_auth_failures_total{reason="forbidden"}' in metrics
    ours = [r for r in caplog.records if r.name.split(".")[0] in ("api", "uvicorn", "gudang")]
    assert all(secret not in rec.getMessage() for rec in ours)
    assert any("refused an unknown token" in rec.getMessage() for rec in caplog.records)


def test_access_log_lines_lose_query_tokens() -> None:
    # uvicorn's access log: '%s - "%s %s HTTP/%s" %d' with the path and query as one argument
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/v1/stream?access_token=s3cret&x=1", "1.1", 200),
        None,
    )
    assert RedactTokens().filter(record)
    assert (
        record.getMessage()
        == '127.0.0.1:5000 - "GET /api/v1/stream?access_token=***&x=1 HTTP/1.1" 200'
    )
