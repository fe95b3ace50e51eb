"""The service's long-running processes: `hallpass serve` and `hallpass worker`.

`serve` runs the web app under uvicorn. On the embedded (SQLite) store the
app's lifespan also runs the timed jobs (hallpass.service.ticker); on Redis
they run in `hallpass worker` (hallpass.worker), as many as you like.

`run_serve` and `run_worker` are the command line's handlers (hallpass.cli):
they run inside the CLI's event loop. `serve` and `worker` are the same for
callers without one (they start their own, uvloop when installed).
"""

from __future__ import annotations

import argparse
import copy
import logging
import logging.config
from typing import Any

import msgspec
import uvicorn
from uvicorn.config import LOGGING_CONFIG

from hallpass import logs, metrics
from hallpass.backend import default_store_url, sqlite_file
from hallpass.config import ConfigError, Settings, check, load_settings
from hallpass.events.urls import SqliteUrl, parse_store_url
from hallpass.provision import InvalidInput
from hallpass.service.ws_protocol import LeanWebSocketProtocol

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def log_config(level: str = "INFO", log_format: logs.LogFormat = "text") -> dict[str, Any]:
    """uvicorn's logging, with Hallpass's own loggers (the ticker's failures)
    and arq's shown the same way. arq logs every job at INFO, which on a
    worker ticking each school every second is noise: it shows warnings only.
    `log_format` json makes every line a JSON object (hallpass.logs)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["hallpass"] = {"handlers": ["default"], "level": level, "propagate": False}
    config["loggers"]["arq"] = {"handlers": ["default"], "level": "WARNING", "propagate": False}
    return logs.with_format(config, log_format)


def chosen_log_format(choice: str | None) -> logs.LogFormat:
    """--log-format, else HALLPASS_LOG_FORMAT, else by HALLPASS_ENV (hallpass.logs)."""
    try:
        return logs.resolve_format(choice)
    except ConfigError as error:
        raise InvalidInput(str(error)) from None


def server_settings(store_url: str | None, demo: bool) -> Settings:
    """HALLPASS_* settings with the command line's choices on top, checked.
    Raises InvalidInput with one sentence for anything the service cannot use."""
    try:
        settings = load_settings()
        changes: dict[str, Any] = {}
        if store_url:
            changes["store"] = store_url
        if demo:
            changes["demo"] = True
        settings = msgspec.structs.replace(settings, **changes)
        check(settings)  # production mode refuses --demo
    except ConfigError as error:
        raise InvalidInput(str(error)) from None
    check_store_url(settings.store)
    return settings


def check_store_url(url: str) -> SqliteUrl | None:
    """Raises InvalidInput for a URL that names no usable store; the parsed
    SQLite URL, or None for Redis."""
    try:
        parsed = parse_store_url(url)
        if isinstance(parsed, SqliteUrl):
            sqlite_file(parsed.path)
            return parsed
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    return None


def uvicorn_config(
    settings: Settings,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    proxy_headers: bool = True,
    forwarded_allow_ips: str | None = None,
    access_log: bool = False,
    log_format: logs.LogFormat = "text",
) -> uvicorn.Config:
    from hallpass.web.app import create_app  # the web layer loads only for serving

    if not 1 <= port <= 65535:
        raise InvalidInput(f"--port {port} is not a port; use 1 to 65535.")
    return uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        lifespan="on",  # opens the store, and on SQLite starts the Ticker
        # uvicorn's websockets-sansio protocol, minus about 8 KiB per open
        # socket that it never uses again (hallpass.service.ws_protocol).
        ws=LeanWebSocketProtocol,
        # The hub sends many small JSON messages to many clients; per-message
        # compression would cost each one a zlib context for little gain.
        ws_per_message_deflate=False,
        # Clients only send pings; a frame larger than this is refused at once
        # instead of being buffered (uvicorn's default is 16 MiB).
        ws_max_size=65536,
        # Behind a proxy (a Procfile platform, nginx) the client's address and
        # scheme come from X-Forwarded-*, trusted from `forwarded_allow_ips`
        # only (uvicorn's default: $FORWARDED_ALLOW_IPS, else 127.0.0.1).
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
        access_log=access_log,
        log_config=log_config(log_format=log_format),
        server_header=False,
    )


# --- serve ---------------------------------------------------------------------


async def serve_async(config: uvicorn.Config) -> None:
    """Serve until SIGTERM or SIGINT, inside the running event loop. uvicorn
    itself exits (status 3) when the app's lifespan fails to start, say when
    the store cannot be opened, after logging why."""
    await uvicorn.Server(config).serve()


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    store_url: str | None = None,
    demo: bool = False,
    *,
    proxy_headers: bool = True,
    forwarded_allow_ips: str | None = None,
    access_log: bool = False,
) -> None:
    """Run the web service until SIGTERM or SIGINT (in its own event loop)."""
    settings = server_settings(store_url, demo)
    config = uvicorn_config(
        settings,
        host,
        port,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
        access_log=access_log,
    )
    uvicorn.Server(config).run()


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """Options of `hallpass serve` beyond API.md's --host, --port, --store, --demo."""
    parser.add_argument(
        "--no-proxy-headers",
        dest="proxy_headers",
        action="store_false",
        help="ignore X-Forwarded-For and X-Forwarded-Proto even from trusted proxies",
    )
    parser.add_argument(
        "--forwarded-allow-ips",
        metavar="IPS",
        help="comma-separated proxy addresses whose X-Forwarded-* headers are trusted, "
        "or '*' (default: $FORWARDED_ALLOW_IPS, else 127.0.0.1)",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    logs.add_log_format_option(parser)


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    """Options of `hallpass worker` beyond API.md's --store."""
    logs.add_log_format_option(parser)
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (default: off)",
    )
    parser.add_argument(
        "--metrics-host",
        default=DEFAULT_HOST,
        metavar="HOST",
        help=f"the address the metrics port listens on (default: {DEFAULT_HOST}, this machine only)",
    )


async def run_serve(args: argparse.Namespace) -> None:
    """The handler of `hallpass serve`."""
    settings = server_settings(args.store, args.demo)
    config = uvicorn_config(
        settings,
        args.host,
        args.port,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        access_log=args.access_log,
        log_format=chosen_log_format(args.log_format),
    )
    await serve_async(config)


# --- worker --------------------------------------------------------------------

EMBEDDED_HAS_NO_WORKER = (
    "The embedded SQLite store runs its timed jobs inside `hallpass serve`; "
    "`hallpass worker` is for a Redis store (--store redis://host:port/db)."
)


def worker_store_url(store_url: str | None) -> str:
    """The Redis URL the worker uses; InvalidInput for an SQLite one."""
    url = store_url or default_store_url()
    try:
        parsed = parse_store_url(url)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    if isinstance(parsed, SqliteUrl):
        raise InvalidInput(EMBEDDED_HAS_NO_WORKER)
    return url


async def run_worker(args: argparse.Namespace) -> None:
    """The handler of `hallpass worker`: the arq worker, inside the running loop."""
    from hallpass.worker import run_async

    url = worker_store_url(args.store)
    logging.config.dictConfig(log_config(log_format=chosen_log_format(args.log_format)))
    if args.metrics_port is not None:
        serve_worker_metrics(args.metrics_host, args.metrics_port)
    await run_async(url)


def serve_worker_metrics(host: str, port: int) -> None:
    """The worker's metrics port (it has no web server of its own)."""
    if not 1 <= port <= 65535:
        raise InvalidInput(f"--metrics-port {port} is not a port; use 1 to 65535.")
    try:
        metrics.serve_http(host, port)
    except OSError as error:
        raise InvalidInput(f"--metrics-port {port}: cannot listen on {host}: {error}") from None


def worker(store_url: str | None = None) -> None:
    """Run the arq worker until SIGTERM or SIGINT (in its own event loop)."""
    from hallpass.worker import run

    url = worker_store_url(store_url)
    logging.config.dictConfig(log_config())
    run(url)
