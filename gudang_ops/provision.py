"""Install-time provisioning: credentials, Mosquitto users, InfluxDB users and schema.

deploy/install.sh runs these as ``python -m gudang_ops.provision ...``; the tests call the same
functions on throw-away servers, so what the installer does is what is tested. The standard
library and the wire contract's name rule only (no server extras): it runs before the
services are set up. Secrets are written to files that only their owner can read and are
never printed or logged.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import os
import pwd
import secrets
import sys
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from string import Template
from typing import Any

from gudang.wire import check_name

log = logging.getLogger(__name__)

DEPLOY_DIR = Path(__file__).resolve().parent.parent / "deploy"

# 24 random bytes = 192 bits, 32 URL-safe characters: no quoting needed in env files,
# TOML, InfluxQL string literals or URLs.
SECRET_BYTES = 24
SECRET_FILE_MODE = 0o600

# Mosquitto 2.0's own password hash (mosquitto_passwd): PBKDF2-SHA512, 101 iterations,
# 12-byte salt, written as $7$<iterations>$<salt b64>$<hash b64>. Hashing here keeps the
# password off any command line (mosquitto_passwd -b would show it in `ps`).
MOSQUITTO_HASH_ITERATIONS = 101
MOSQUITTO_SALT_BYTES = 12

# Users of the broker that are not stations; the ACL's station patterns apply to every
# username, so no station may be named like one of these.
MQTT_SERVICES_USER = "services"
MQTT_API_USER = "api"
MQTT_OPERATOR_USER = "operator"
RESERVED_MQTT_USERS = frozenset({MQTT_SERVICES_USER, MQTT_API_USER, MQTT_OPERATOR_USER})

INFLUX_ADMIN_USER = "gudang_admin"
INFLUX_SERVICES_USER = "gudang_services"
INFLUX_API_USER = "gudang_api"

# One environment file per process (systemd EnvironmentFile=, compose env_file:).
SERVICES_ENV = "services.env"
API_ENV = "api.env"
OPERATOR_ENV = "operator.env"  # the operator's MQTT password and the InfluxDB admin's
# The API's first admin bearer token (root only); its SHA-256 goes into the settings file.
API_ADMIN_TOKEN = "api-admin.token"
STATIONS_DIR = "stations"


class ProvisionError(Exception):
    """A provisioning step failed; the message says which and why (never a secret)."""


class InfluxRefused(ProvisionError):
    """InfluxDB answered a statement with an HTTP error."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# -- templates --------------------------------------------------------------------------------
def render(template: Path, **values: object) -> str:
    """Fill a configuration template's $placeholders; every one must be given."""
    try:
        return Template(template.read_text()).substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        raise ProvisionError(f"{template}: no value for placeholder ${exc.args[0]}") from exc


# -- secrets ----------------------------------------------------------------------------------
def new_secret() -> str:
    """A fresh random password."""
    return secrets.token_urlsafe(SECRET_BYTES)


def write_private(path: Path, text: str, owner: str | None = None) -> None:
    """Write ``text`` to ``path`` readable by its owner only (mode 0600), owned by ``owner``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 from the first byte: no window in which the file is readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SECRET_FILE_MODE)
    try:
        os.fchmod(fd, SECRET_FILE_MODE)
        if owner is not None:
            entry = pwd.getpwnam(owner)
            os.fchown(fd, entry.pw_uid, entry.pw_gid)
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def read_env(path: Path) -> dict[str, str]:
    """Read a KEY=value environment file (comments and blank lines ignored)."""
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        text = raw.strip()
        if text and not text.startswith("#") and "=" in text:
            key, _, value = text.partition("=")
            values[key.strip()] = value.strip()
    return values


def _env_text(header: str, values: Mapping[str, str]) -> str:
    lines = [f"# {header}", "# Generated at install; mode 0600. Never commit or paste it."]
    lines += [f"{k}={v}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Credentials:
    """The site's generated passwords, as kept in the environment files."""

    mqtt_services: str
    mqtt_api: str
    mqtt_operator: str
    influx_admin: str
    influx_services: str
    influx_api: str


def _ensure_env(path: Path, header: str, values: Mapping[str, str], owner: str | None) -> None:
    # An existing file is kept: running the installer again must not change passwords
    # that running services and stations already use.
    if path.exists():
        return
    write_private(path, _env_text(header, values), owner)
    log.info("wrote %s (mode 0600%s)", path, f", owner {owner}" if owner else "")


def ensure_credentials(
    etc_dir: Path, services_owner: str | None = None, api_owner: str | None = None
) -> Credentials:
    """Create the site's environment files with fresh passwords, or read the existing ones."""
    _ensure_env(
        etc_dir / SERVICES_ENV,
        "Secrets of `gudang services`",
        {
            "GUDANG_MQTT__USERNAME": MQTT_SERVICES_USER,
            "GUDANG_MQTT__PASSWORD": new_secret(),
            "GUDANG_INFLUX__USERNAME": INFLUX_SERVICES_USER,
            "GUDANG_INFLUX__PASSWORD": new_secret(),
        },
        services_owner,
    )
    _ensure_env(
        etc_dir / API_ENV,
        "Secrets of `gudang api`",
        {
            "GUDANG_MQTT__USERNAME": MQTT_API_USER,
            "GUDANG_MQTT__PASSWORD": new_secret(),
            "GUDANG_INFLUX__USERNAME": INFLUX_API_USER,
            "GUDANG_INFLUX__PASSWORD": new_secret(),
        },
        api_owner,
    )
    _ensure_env(
        etc_dir / OPERATOR_ENV,
        "The operator's secrets: read-only MQTT, the InfluxDB admin (backups, upgrades)",
        {
            "MQTT_USERNAME": MQTT_OPERATOR_USER,
            "MQTT_PASSWORD": new_secret(),
            "INFLUX_USERNAME": INFLUX_ADMIN_USER,
            "INFLUX_PASSWORD": new_secret(),
        },
        None,
    )
    return load_credentials(etc_dir)


def load_credentials(etc_dir: Path) -> Credentials:
    """Read the passwords back from the environment files."""
    try:
        services = read_env(etc_dir / SERVICES_ENV)
        api = read_env(etc_dir / API_ENV)
        operator = read_env(etc_dir / OPERATOR_ENV)
        return Credentials(
            mqtt_services=services["GUDANG_MQTT__PASSWORD"],
            mqtt_api=api["GUDANG_MQTT__PASSWORD"],
            mqtt_operator=operator["MQTT_PASSWORD"],
            influx_admin=operator["INFLUX_PASSWORD"],
            influx_services=services["GUDANG_INFLUX__PASSWORD"],
            influx_api=api["GUDANG_INFLUX__PASSWORD"],
        )
    except (OSError, KeyError) as exc:
        raise ProvisionError(f"credentials in {etc_dir} are incomplete: {exc!r}") from exc


def ensure_api_admin_token(etc_dir: Path, config: Path) -> bool:
    """Make the API's first admin token once: the token in a 0600 file, its hash in ``config``.

    The hash is what ``api.auth.hash_token`` computes (hex SHA-256); more tokens are made
    with ``gudang api new-token``. Returns False when the token already exists.
    """
    token_file = etc_dir / API_ADMIN_TOKEN
    if token_file.exists():
        return False
    token = new_secret()
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
    with config.open("a", encoding="utf-8") as out:
        out.write(
            "\n# The first admin token, made at install; the token itself is in "
            f"{token_file} (root only).\n"
            f'[[api.tokens]]\nname = "admin"\nrole = "admin"\nsha256 = "{digest}"\n'
        )
    write_private(token_file, token + "\n")
    log.info("wrote the API's admin token to %s (mode 0600)", token_file)
    return True


# -- Mosquitto ----------------------------------------------------------------------------------
def mosquitto_hash(password: str, salt: bytes | None = None) -> str:
    """The password-file hash Mosquitto 2.0 checks ($7$, PBKDF2-SHA512)."""
    salt = salt if salt is not None else os.urandom(MOSQUITTO_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, MOSQUITTO_HASH_ITERATIONS)
    b64 = base64.b64encode
    return f"$7${MOSQUITTO_HASH_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def set_mosquitto_user(password_file: Path, username: str, password: str) -> None:
    """Add or replace one user in a Mosquitto password file (mode 0600)."""
    if ":" in username or not username:
        raise ProvisionError(f"invalid MQTT username {username!r}")
    lines = []
    if password_file.exists():
        lines = [
            ln
            for ln in password_file.read_text().splitlines()
            if ln.strip() and ln.split(":", 1)[0] != username
        ]
    lines.append(f"{username}:{mosquitto_hash(password)}")
    owner = None
    if password_file.exists():
        owner = pwd.getpwuid(password_file.stat().st_uid).pw_name
    write_private(password_file, "\n".join(lines) + "\n", owner)


def write_mosquitto_users(password_file: Path, creds: Credentials) -> None:
    """Put the site-wide users (services, api, operator) into the password file."""
    set_mosquitto_user(password_file, MQTT_SERVICES_USER, creds.mqtt_services)
    set_mosquitto_user(password_file, MQTT_API_USER, creds.mqtt_api)
    set_mosquitto_user(password_file, MQTT_OPERATOR_USER, creds.mqtt_operator)


def add_station(etc_dir: Path, password_file: Path, station: str) -> Path:
    """Create a station's MQTT user; returns its environment file (to copy to the station)."""
    check_name("station", station)
    if station in RESERVED_MQTT_USERS:
        raise ProvisionError(f"{station!r} is reserved for a site-wide MQTT user; pick another")
    env_path = etc_dir / STATIONS_DIR / f"{station}.env"
    if env_path.exists():
        password = read_env(env_path)["GUDANG_MQTT__PASSWORD"]
    else:
        password = new_secret()
        values = {
            "GUDANG_STATION__NAME": station,
            "GUDANG_MQTT__USERNAME": station,
            "GUDANG_MQTT__PASSWORD": password,
        }
        write_private(env_path, _env_text(f"Secrets of the bridge of station {station}", values))
    set_mosquitto_user(password_file, station, password)
    return env_path


# -- InfluxDB -----------------------------------------------------------------------------------
def _quote_ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _quote_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class InfluxAdmin:
    """Just enough of InfluxDB's /query for installing: statements, with Basic auth."""

    def __init__(self, url: str, username: str | None, password: str | None) -> None:
        self.url = url.rstrip("/")
        self._auth: str | None = None
        if username is not None and password is not None:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            # Basic auth in a header: the password never appears in a URL or access log.
            self._auth = f"Basic {token}"

    def query(self, q: str, db: str | None = None) -> list[dict[str, Any]]:
        """Run InfluxQL; rows of the first result. Raises ProvisionError with the server's error."""
        form = {"q": q, **({"db": db} if db else {})}
        request = urllib.request.Request(
            f"{self.url}/query", data=urllib.parse.urlencode(form).encode(), method="POST"
        )
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        if self._auth:
            request.add_header("Authorization", self._auth)
        verb = q.split(" ", 2)[:2]  # e.g. CREATE USER: enough to say what failed, no secret
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:200]
            raise InfluxRefused(
                f"InfluxDB refused {' '.join(verb)}: HTTP {exc.code} {detail}", exc.code
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ProvisionError(f"InfluxDB at {self.url} did not answer: {exc}") from exc
        rows: list[dict[str, Any]] = []
        for result in body.get("results", []):
            if "error" in result:
                raise ProvisionError(f"InfluxDB refused {' '.join(verb)}: {result['error']}")
            for series in result.get("series", []) or []:
                for values in series.get("values", []) or []:
                    rows.append(dict(zip(series["columns"], values, strict=False)))
        return rows


@dataclass(frozen=True)
class InfluxSchema:
    """What deploy/influxdb/setup.toml asks for."""

    database: str
    retention_policies: list[dict[str, Any]]
    continuous_queries: list[dict[str, Any]]
    grants: dict[str, str]  # user -> READ / WRITE / ALL

    @classmethod
    def load(cls, path: Path, database: str | None = None) -> InfluxSchema:
        """Read the schema file; ``database`` overrides its name (tests: one per test)."""
        data = tomllib.loads(path.read_text())
        return cls(
            database=database or str(data["database"]),
            retention_policies=list(data["retention_policies"]),
            continuous_queries=list(data.get("continuous_queries", [])),
            grants={str(k): str(v["grant"]) for k, v in data["users"].items()},
        )

    def default_policy(self) -> dict[str, Any]:
        """The retention policy new points go to when the writer names none."""
        defaults = [rp for rp in self.retention_policies if rp.get("default")]
        if len(defaults) != 1:
            raise ProvisionError("setup.toml: exactly one retention policy must be default")
        return defaults[0]

    def cq_text(self, cq: Mapping[str, Any]) -> str:
        """A continuous query's SELECT with the database filled in."""
        return Template(str(cq["select"])).substitute(database=_quote_ident(self.database))


def _ensure_admin(url: str, password: str) -> InfluxAdmin:
    admin = InfluxAdmin(url, INFLUX_ADMIN_USER, password)
    try:
        admin.query("SHOW USERS")
        return admin
    except ProvisionError:
        pass
    # No user yet: with auth on, InfluxDB 1.x then takes exactly one statement without
    # credentials, the creation of an admin.
    InfluxAdmin(url, None, None).query(
        f"CREATE USER {_quote_ident(INFLUX_ADMIN_USER)} WITH PASSWORD {_quote_str(password)} "
        "WITH ALL PRIVILEGES"
    )
    admin.query("SHOW USERS")  # the new admin works
    log.info("created the InfluxDB admin %s", INFLUX_ADMIN_USER)
    return admin


def _require_auth(url: str) -> None:
    # Users and grants mean nothing on a server without auth-enabled, and one that answers
    # anybody is not the one deploy/influxdb/influxdb.conf starts (another program's?).
    try:
        InfluxAdmin(url, None, None).query("SHOW DATABASES")
    except InfluxRefused as exc:
        if exc.status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            return
        raise
    raise ProvisionError(
        f"InfluxDB at {url} answers without credentials (auth-enabled is off): is it the "
        "server started from deploy/influxdb/influxdb.conf? Nothing was changed."
    )


def setup_influx(url: str, schema: InfluxSchema, creds: Credentials) -> list[str]:
    """Create or update the admin, database, retention policies, CQs and users (idempotent)."""
    _require_auth(url)
    admin = _ensure_admin(url, creds.influx_admin)
    db = _quote_ident(schema.database)
    done: list[str] = []

    existing_dbs = {row["name"] for row in admin.query("SHOW DATABASES")}
    if schema.database not in existing_dbs:
        rp = schema.default_policy()
        # Created with its default policy directly, so no unused "autogen" is left behind.
        admin.query(
            f"CREATE DATABASE {db} WITH DURATION {rp['duration']} REPLICATION 1 "
            f"SHARD DURATION {rp['shard_duration']} NAME {_quote_ident(rp['name'])}"
        )
        done.append(f"database {schema.database}")

    existing_rps = {row["name"] for row in admin.query(f"SHOW RETENTION POLICIES ON {db}")}
    for rp in schema.retention_policies:
        verb = "ALTER" if rp["name"] in existing_rps else "CREATE"
        replication = "" if verb == "ALTER" else " REPLICATION 1"
        admin.query(
            f"{verb} RETENTION POLICY {_quote_ident(rp['name'])} ON {db} "
            f"DURATION {rp['duration']}{replication} SHARD DURATION {rp['shard_duration']}"
            + (" DEFAULT" if rp.get("default") else "")
        )
        done.append(f"retention policy {rp['name']} ({rp['duration']})")

    existing_cqs = {row["name"] for row in admin.query("SHOW CONTINUOUS QUERIES")}
    for cq in schema.continuous_queries:
        name = _quote_ident(cq["name"])
        if cq["name"] in existing_cqs:  # a CQ cannot be altered: drop and create
            admin.query(f"DROP CONTINUOUS QUERY {name} ON {db}")
        admin.query(f"CREATE CONTINUOUS QUERY {name} ON {db} BEGIN {schema.cq_text(cq)} END")
        done.append(f"continuous query {cq['name']}")

    passwords = {INFLUX_SERVICES_USER: creds.influx_services, INFLUX_API_USER: creds.influx_api}
    existing_users = {row["user"] for row in admin.query("SHOW USERS")}
    for user, grant in schema.grants.items():
        if user not in passwords:
            raise ProvisionError(f"setup.toml: no generated password for InfluxDB user {user}")
        ident, pw = _quote_ident(user), _quote_str(passwords[user])
        if user in existing_users:
            admin.query(f"SET PASSWORD FOR {ident} = {pw}")
            admin.query(f"REVOKE ALL PRIVILEGES ON {db} FROM {ident}")
        else:
            admin.query(f"CREATE USER {ident} WITH PASSWORD {pw}")
        admin.query(f"GRANT {grant} ON {db} TO {ident}")
        done.append(f"user {user} ({grant} on {schema.database})")
    return done


# -- command line (deploy/install.sh) -----------------------------------------------------------
def _cmd_render(args: argparse.Namespace) -> None:
    values = dict(pair.split("=", 1) for pair in args.values)
    Path(args.output).write_text(render(Path(args.template), **values))


def _cmd_credentials(args: argparse.Namespace) -> None:
    creds = ensure_credentials(Path(args.etc), args.services_owner, args.api_owner)
    write_mosquitto_users(Path(args.password_file), creds)
    print(f"credentials in {args.etc} (mode 0600); MQTT users in {args.password_file}")


def _cmd_api_token(args: argparse.Namespace) -> None:
    if not ensure_api_admin_token(Path(args.etc), Path(args.config)):
        print(f"the API admin token exists already ({Path(args.etc) / API_ADMIN_TOKEN})")


def _cmd_station(args: argparse.Namespace) -> None:
    path = add_station(Path(args.etc), Path(args.password_file), args.station)
    print(f"station {args.station}: MQTT user added; copy {path} to the station box")


def _cmd_influx(args: argparse.Namespace) -> None:
    schema = InfluxSchema.load(Path(args.schema))
    for line in setup_influx(args.url, schema, load_credentials(Path(args.etc))):
        print(f"influxdb: {line}")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gudang_ops.provision``: the steps deploy/install.sh runs."""
    p = argparse.ArgumentParser(prog="python -m gudang_ops.provision", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("render", help="fill a configuration template's $placeholders")
    r.add_argument("template")
    r.add_argument("output")
    r.add_argument("values", nargs="*", metavar="KEY=VALUE")
    r.set_defaults(func=_cmd_render)

    c = sub.add_parser("credentials", help="generate the site's passwords (kept if present)")
    c.add_argument("--etc", default="/etc/gudang")
    c.add_argument("--password-file", default="/etc/mosquitto/gudang/passwd")
    c.add_argument("--services-owner", default=None, help="system user of gudang services")
    c.add_argument("--api-owner", default=None, help="system user of gudang api")
    c.set_defaults(func=_cmd_credentials)

    t = sub.add_parser("api-token", help="the API's first admin token (once)")
    t.add_argument("--etc", default="/etc/gudang")
    t.add_argument("--config", default="/etc/gudang/gudang.toml")
    t.set_defaults(func=_cmd_api_token)

    s = sub.add_parser("add-station", help="an MQTT user for one station")
    s.add_argument("station")
    s.add_argument("--etc", default="/etc/gudang")
    s.add_argument("--password-file", default="/etc/mosquitto/gudang/passwd")
    s.set_defaults(func=_cmd_station)

    i = sub.add_parser("influx", help="admin, database, retention, CQs and users in InfluxDB")
    i.add_argument("--url", default="http://127.0.0.1:8086")
    i.add_argument("--etc", default="/etc/gudang")
    i.add_argument("--schema", default=str(DEPLOY_DIR / "influxdb" / "setup.toml"))
    i.set_defaults(func=_cmd_influx)

    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="provision: %(message)s")
    try:
        args.func(args)
    except (ProvisionError, OSError, ValueError) as exc:
        print(f"provision: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
