"""The ``gudang`` command: one entry point, a subcommand per part.

    gudang stack       the whole stack on this machine, with a simulated station
    gudang bridge      a station bridge (serial devices -> MQTT)
    gudang services    the floor services (MQTT -> InfluxDB, live state)
    gudang api         the HTTP API and dashboard (``gudang api new-token``, ``hash-token``)
    gudang simulate    simulated scanner and scale on pseudo-terminals
    gudang status|start|stop|restart [PART ...]
                       the installed processes (systemctl, or by hand without systemd)

Imports stay inside the subcommands: a station box has no server packages.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from gudang.settings import (
    HID_LAYOUT_NAMES,
    SCALE_PROTOCOL_NAMES,
    ConfigError,
    Settings,
    load_settings,
)

log = logging.getLogger("gudang")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _stop_event() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        log.info("stopping (signal %d)", signum)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def cmd_bridge(settings: Settings, args: argparse.Namespace) -> int:
    """Run one station's bridge."""
    from firmware_bridge.bridge import run_bridge

    if not settings.station.devices:
        raise ConfigError("station.devices: a bridge needs at least one device")
    settings.require_secrets("mqtt")
    run_bridge(settings, _stop_event())
    return 0


def cmd_services(settings: Settings, args: argparse.Namespace) -> int:
    """Run the floor services."""
    from services.app import run_services

    settings.require_secrets("mqtt", "influx")
    run_services(settings, _stop_event())
    return 0


def cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    """Run the API and dashboard, or a token helper."""
    if args.api_command == "hash-token":
        return _hash_token(args.token)
    if args.api_command == "new-token":
        return _new_token(args.name, args.role)
    from api.app import create_app
    from api.transport import serve

    settings.require_secrets("mqtt", "influx")
    if settings.site.environment == "production" and not settings.api.tls:
        log.warning(
            "api.tls_port is not set: phones cannot use their camera, and tokens from other "
            "machines are refused over plain HTTP (docs/install.md, HTTPS for phones)"
        )
    serve(create_app(settings), settings)
    return 0


def _hash_token(token: str | None) -> int:
    from api.auth import hash_token

    if token is None:  # from stdin: keeps the token out of the shell history
        token = sys.stdin.readline().strip()
    if not token:
        print("gudang: no token given", file=sys.stderr)
        return 2
    print(hash_token(token))
    return 0


def _new_token(name: str, role: str) -> int:
    from api.auth import hash_token, new_token

    token = new_token()
    print(f"token (give it to {name}; it is not stored anywhere):\n  {token}\n")
    print("settings (TOML):")
    print(f'[[api.tokens]]\nname = "{name}"\nrole = "{role}"\nsha256 = "{hash_token(token)}"')
    return 0


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    """Run a simulated scanner and scale and keep scanning drums."""
    from firmware_bridge.protocols import SCALE_PROTOCOLS
    from firmware_bridge.simulated_station import run_simulators

    if args.protocol not in SCALE_PROTOCOLS:
        raise ConfigError(
            f"--protocol {args.protocol!r}: one of {', '.join(sorted(SCALE_PROTOCOLS))}"
        )
    links = Path(args.links) if args.links else None
    if links is not None:
        links.mkdir(parents=True, exist_ok=True)
    if not 0 <= args.noise <= 1:
        raise ConfigError(f"--noise {args.noise}: a chance per drum, from 0 to 1")
    if args.hid is not None and links is None:
        raise ConfigError("--hid: needs --links, the folder for the scanner's FIFO")
    run_simulators(
        args.protocol,
        args.interval,
        args.container,
        _stop_event(),
        links,
        args.noise,
        args.hid,
        args.drift,
    )
    return 0


def cmd_stack(settings: Settings, args: argparse.Namespace) -> int:
    """Bring up broker, InfluxDB, services, API and a simulated station."""
    from gudang_ops.stack import run_stack

    if settings.site.environment != "local":
        raise ConfigError("gudang stack is the local demo: it needs site.environment = 'local'")
    return run_stack(
        settings,
        Path(args.data_dir),
        simulate=not args.no_sim,
        interval=args.interval,
        secure=args.secure,
        tls=args.tls,
        scale_protocol=args.scale,
        hid_layout=args.hid,
    )


def cmd_site(settings: Settings, args: argparse.Namespace) -> int:
    """Status, start, stop or restart the installed processes of this box."""
    from gudang_ops.site import SiteError, control

    try:
        return control(args.command, args.parts)
    except SiteError as exc:
        print(f"gudang: {exc}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    # -c/-v go before or after the command (``gudang -c F stack`` = ``gudang stack -c F``).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="settings file (TOML); or $GUDANG_CONFIG",
    )
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging"
    )
    p = argparse.ArgumentParser(prog="gudang", description=__doc__.split("\n")[0], parents=[common])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser(
        "stack", parents=[common], help="the whole stack locally, with a simulated station"
    )
    s.add_argument("--data-dir", default="var/stack", help="where broker and InfluxDB keep data")
    s.add_argument("--no-sim", action="store_true", help="no simulated station")
    s.add_argument(
        "--secure",
        action="store_true",
        help="broker and InfluxDB from deploy/ (passwords, ACL, TLS), generated secrets",
    )
    s.add_argument("--interval", type=float, default=2.0, help="seconds between simulated drums")
    s.add_argument(
        "--tls",
        action="store_true",
        help="also serve the API over HTTPS (port + 443) with a site CA under DATA_DIR/tls",
    )
    s.add_argument(
        "--scale",
        default="mt-sics",
        choices=SCALE_PROTOCOL_NAMES,
        help="the simulated station's scale protocol (default mt-sics)",
    )
    s.add_argument(
        "--hid",
        default=None,
        choices=HID_LAYOUT_NAMES,
        help="the simulated station's scanner is a USB keyboard of this layout",
    )
    s.set_defaults(func=cmd_stack)

    sub.add_parser("bridge", parents=[common], help="a station bridge").set_defaults(
        func=cmd_bridge
    )
    sub.add_parser("services", parents=[common], help="the floor services").set_defaults(
        func=cmd_services
    )
    a = sub.add_parser(
        "api", parents=[common], help="the HTTP API and dashboard (or a token helper)"
    )
    a.set_defaults(func=cmd_api, api_command=None)
    asub = a.add_subparsers(dest="api_command", metavar="[hash-token|new-token]")
    h = asub.add_parser("hash-token", help="print the SHA-256 of a token for api.tokens")
    h.add_argument("token", nargs="?", help="the token (default: read a line from stdin)")
    n = asub.add_parser("new-token", help="make a random token and its settings entry")
    n.add_argument("--name", required=True, help="who gets it (recorded as the actor)")
    n.add_argument("--role", required=True, choices=["worker", "supervisor", "admin"])

    m = sub.add_parser("simulate", parents=[common], help="a simulated scanner and scale on ptys")
    m.add_argument("--protocol", default="mt-sics", help="scale protocol (default mt-sics)")
    m.add_argument("--interval", type=float, default=2.0, help="seconds between drums")
    m.add_argument("--container", default=None, help="container label to scan first")
    m.add_argument(
        "--links", default=None, help="folder for stable names 'scanner' and 'scale' of the ptys"
    )
    m.add_argument(
        "--noise", type=float, default=0.0, help="chance per drum of line noise (0-1, default 0)"
    )
    m.add_argument(
        "--drift",
        type=float,
        default=0.0,
        metavar="KG_PER_MIN",
        help="the scale's zero wanders at this rate (try scale_drift alerts; default 0)",
    )
    m.add_argument(
        "--hid",
        default=None,
        choices=["us", "de", "fr"],
        help="the scanner is a USB keyboard of this layout: input events on links/scanner-kbd",
    )
    m.set_defaults(func=cmd_simulate)

    for verb, what in (
        ("status", "whether each installed process runs, and where its logs are"),
        ("start", "start the installed processes"),
        ("stop", "stop them (SIGTERM: each finishes cleanly)"),
        ("restart", "stop and start them (after a change to /etc/gudang)"),
    ):
        v = sub.add_parser(verb, parents=[common], help=what)
        v.add_argument(
            "parts",
            nargs="*",
            metavar="PART",
            help="mosquitto, influxdb, services, api, bridge (default: all installed)",
        )
        v.set_defaults(func=cmd_site)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gudang`` command."""
    args = build_parser().parse_args(argv)
    args.config = getattr(args, "config", None)
    args.verbose = getattr(args, "verbose", False)
    _setup_logging(args.verbose)
    try:
        settings = load_settings(args.config)
        return int(args.func(settings, args))
    except ConfigError as exc:
        print(f"gudang: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
