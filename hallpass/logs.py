"""Log lines: text for a person at a terminal, JSON for a log shipper.

In JSON every record is one object on one line: `time` (UTC, ISO 8601),
`level`, `logger`, `message`, the `request_id` of the request it happened in
(API.md: every answer's `X-Request-ID`), any `extra` fields the call gave,
and `exception` with the traceback when there is one. uvicorn's access lines
also carry `client`, `method`, `path` and `status` as fields of their own.

The format is `--log-format json|text` on `hallpass serve` and `hallpass
worker`, else `HALLPASS_LOG_FORMAT`, else JSON in production mode
(`HALLPASS_ENV=production`) and text otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, cast, get_args

import msgspec

from hallpass.config import ConfigError

LogFormat = Literal["json", "text"]
FORMATS: tuple[str, ...] = get_args(LogFormat)
FORMAT_ENV = "HALLPASS_LOG_FORMAT"

# The request being served and the task serving it. A task started while a
# request runs (a school's follower, the hub's heartbeat) inherits the
# context and may outlive the request by hours; its log lines must not name
# that request, so the id counts only in the task that set it.
_Bound = tuple[str, asyncio.Task[Any] | None] | None
_request: contextvars.ContextVar[_Bound] = contextvars.ContextVar("hallpass_request", default=None)


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no event loop in this thread
        return None


def bind_request_id(request_id: str) -> contextvars.Token[_Bound]:
    """Name `request_id` in every log line of the current task, until
    `unbind_request_id(token)`."""
    return _request.set((request_id, _current_task()))


def unbind_request_id(token: contextvars.Token[_Bound]) -> None:
    _request.reset(token)


def current_request_id() -> str | None:
    bound = _request.get()
    if bound is None or bound[1] is not _current_task():
        return None
    return bound[0]


# --- JSON ----------------------------------------------------------------------------

# What every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's coloured copy of the message
}
# uvicorn's access line: '%s - "%s %s HTTP/%s" %d' % (client, method, path, version, status).
_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")

_encoder = msgspec.json.Encoder(enc_hook=str)  # an extra of any type is written as its str()


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id is not None:
            entry["request_id"] = request_id
        if (
            record.name == "uvicorn.access"
            and isinstance(record.args, tuple)
            and len(record.args) == len(_ACCESS_FIELDS)
        ):
            entry.update(zip(_ACCESS_FIELDS, record.args, strict=True))
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return _encoder.encode(entry).decode()


# --- choosing and applying the format ----------------------------------------------------


def resolve_format(
    choice: str | None = None, environ: Mapping[str, str] | None = None
) -> LogFormat:
    """The command line's choice, else HALLPASS_LOG_FORMAT, else JSON in
    production mode and text otherwise. Raises ConfigError for a bad value."""
    environ = os.environ if environ is None else environ
    value = choice or environ.get(FORMAT_ENV) or ""
    if not value:
        return "json" if environ.get("HALLPASS_ENV") == "production" else "text"
    if value not in FORMATS:
        raise ConfigError(f"{FORMAT_ENV}: {value!r} is not a log format; use json or text")
    return cast(LogFormat, value)


def with_format(config: dict[str, Any], log_format: LogFormat) -> dict[str, Any]:
    """A `logging.config.dictConfig` dict (uvicorn's, say) whose formatters
    all write `log_format`; text leaves it as it is."""
    if log_format == "json":
        config["formatters"] = {
            name: {"()": f"{__name__}.JsonFormatter"} for name in config.get("formatters", {})
        }
    return config


def add_log_format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
        help=f"log lines as JSON objects or as text (default: ${FORMAT_ENV}, "
        "else json in production mode and text otherwise)",
    )
