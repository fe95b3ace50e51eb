"""Structured logs: the JSON formatter, the request id it names, the choice
of format, and `hallpass serve --log-format json` writing access lines that
carry the id each answer's `X-Request-ID` shows."""

from __future__ import annotations

import asyncio
import json
import logging
import logging.config
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from metrics_kit import PATIENCE
from processes import hallpass
from servers import REPO, free_port, server_env

from hallpass import logs
from hallpass.config import ConfigError
from hallpass.service.serve import log_config


def record(
    message: str = "hello %s", *args: Any, name: str = "hallpass.test", **extra: Any
) -> logging.LogRecord:
    made = logging.LogRecord(name, logging.WARNING, __file__, 1, message, args or ("world",), None)
    made.__dict__.update(extra)
    return made


def formatted(made: logging.LogRecord) -> dict[str, Any]:
    line = logs.JsonFormatter().format(made)
    assert "\n" not in line  # one record, one line
    parsed: dict[str, Any] = json.loads(line)
    return parsed


# --- the JSON formatter --------------------------------------------------------------


def test_a_line_has_time_level_logger_message_and_the_extras() -> None:
    line = formatted(record(school="lincoln", count=3, odd=object()))
    assert line["level"] == "WARNING"
    assert line["logger"] == "hallpass.test"
    assert line["message"] == "hello world"
    assert line["school"] == "lincoln"
    assert line["count"] == 3
    assert line["odd"].startswith("<object object")  # what JSON cannot hold, as text
    assert line["time"].endswith("Z")
    assert "request_id" not in line  # no request is being served here


def test_an_exception_comes_with_its_traceback() -> None:
    try:
        raise ZeroDivisionError("no")
    except ZeroDivisionError:
        made = record()
        made.exc_info = sys.exc_info()
    line = formatted(made)
    assert "ZeroDivisionError: no" in line["exception"]
    assert "Traceback" in line["exception"]


def test_uvicorn_access_lines_get_fields_of_their_own() -> None:
    made = record(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5000",
        "GET",
        "/api/me",
        "1.1",
        401,
        name="uvicorn.access",
    )
    line = formatted(made)
    assert (line["client"], line["method"], line["path"], line["status"]) == (
        "127.0.0.1:5000",
        "GET",
        "/api/me",
        401,
    )
    assert line["message"] == '127.0.0.1:5000 - "GET /api/me HTTP/1.1" 401'
    assert "color_message" not in formatted(record(color_message="\x1b[1mhello\x1b[0m"))


# --- the request id --------------------------------------------------------------------


async def test_the_request_id_is_named_in_the_task_that_serves_the_request() -> None:
    seen: dict[str, str | None] = {}

    async def in_a_task() -> dict[str, Any]:
        return formatted(record())

    async def serving() -> None:
        token = logs.bind_request_id("req-1")
        try:
            seen["serving"] = formatted(record()).get("request_id")
            # A task started now (a follower, a heartbeat) outlives the request:
            # its lines must not name it.
            child = asyncio.create_task(in_a_task())
            seen["child"] = (await child).get("request_id")
        finally:
            logs.unbind_request_id(token)
        seen["after"] = formatted(record()).get("request_id")

    await asyncio.create_task(serving())
    assert seen == {"serving": "req-1", "child": None, "after": None}


def test_outside_an_event_loop_there_is_no_request_id() -> None:
    token = logs.bind_request_id("sync-1")
    try:
        # Bound outside any task: the id belongs to "no task", which is where we are.
        assert logs.current_request_id() == "sync-1"
    finally:
        logs.unbind_request_id(token)
    assert logs.current_request_id() is None


# --- choosing the format ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "environ", "expected"),
    [
        (None, {}, "text"),
        (None, {"HALLPASS_ENV": "development"}, "text"),
        (None, {"HALLPASS_ENV": "production"}, "json"),
        (None, {"HALLPASS_ENV": "production", "HALLPASS_LOG_FORMAT": "text"}, "text"),
        (None, {"HALLPASS_LOG_FORMAT": "json"}, "json"),
        ("text", {"HALLPASS_LOG_FORMAT": "json", "HALLPASS_ENV": "production"}, "text"),
        ("json", {}, "json"),
    ],
)
def test_the_option_wins_then_the_variable_then_the_mode(
    choice: str | None, environ: dict[str, str], expected: str
) -> None:
    assert logs.resolve_format(choice, environ) == expected


def test_an_unknown_format_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=r"HALLPASS_LOG_FORMAT.*xml"):
        logs.resolve_format(None, {"HALLPASS_LOG_FORMAT": "xml"})


def test_the_json_configuration_formats_every_handler_as_json() -> None:
    config = log_config(log_format="json")
    assert all(f == {"()": "hallpass.logs.JsonFormatter"} for f in config["formatters"].values())
    logging.config.dictConfig(config)  # it is a configuration logging accepts
    try:
        handlers = logging.getLogger("hallpass").handlers
        assert handlers
        assert all(isinstance(h.formatter, logs.JsonFormatter) for h in handlers)
    finally:
        logging.config.dictConfig(log_config(log_format="text"))
    text = log_config(log_format="text")
    assert not any("JsonFormatter" in str(f) for f in text["formatters"].values())


# --- hallpass serve --log-format json ------------------------------------------------


class Served:
    def __init__(self, url: str, log_path: Path, process: subprocess.Popen[bytes]) -> None:
        self.url = url
        self.log_path = log_path
        self.process = process

    def lines(self) -> list[str]:
        return [line for line in self.log_path.read_text().splitlines() if line.strip()]


@pytest.fixture
async def served_json(tmp_path: Path) -> AsyncIterator[Served]:
    port = free_port()
    store = f"sqlite:///{tmp_path / 'hallpass.db'}"
    command = hallpass(
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--store",
        store,
        "--access-log",
        "--log-format",
        "json",
    )
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=server_env(store),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    served = Served(f"http://127.0.0.1:{port}", log_path, process)
    try:
        await _wait_until_healthy(served)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _wait_until_healthy(served: Served) -> None:
    deadline = time.monotonic() + PATIENCE * 3
    async with httpx.AsyncClient(base_url=served.url, timeout=2.0) as client:
        while True:
            if served.process.poll() is not None:
                raise AssertionError(f"hallpass serve exited:\n{served.log_path.read_text()}")
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, served.log_path.read_text()
            await asyncio.sleep(0.05)


async def test_every_line_is_json_and_access_lines_carry_the_answers_request_id(
    served_json: Served,
) -> None:
    async with httpx.AsyncClient(base_url=served_json.url, timeout=PATIENCE) as client:
        given = await client.get("/api/me", headers={"X-Request-ID": "trace-7.a_b"})
        assert given.status_code == 401
        assert given.headers["x-request-id"] == "trace-7.a_b"
        made = await client.get("/readyz")
        made_id = made.headers["x-request-id"]
        assert made_id and made_id != "trace-7.a_b"

    wanted = {("/api/me", "trace-7.a_b", 401), ("/readyz", made_id, made.status_code)}
    deadline = time.monotonic() + PATIENCE
    while True:
        parsed = [json.loads(line) for line in served_json.lines()]  # each line is one object
        access = {
            (line["path"], line.get("request_id"), line["status"])
            for line in parsed
            if line["logger"] == "uvicorn.access"
        }
        if wanted <= access:
            break
        assert time.monotonic() < deadline, f"no such access lines in:\n{served_json.lines()}"
        await asyncio.sleep(0.05)
    for line in parsed:
        assert {"time", "level", "logger", "message"} <= line.keys()
    # The start-up lines (no request) name none.
    started = [line for line in parsed if "Application startup complete" in line["message"]]
    assert started and "request_id" not in started[0]


def test_serve_refuses_an_unknown_log_format_in_one_line(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'hallpass.db'}"
    done = subprocess.run(
        hallpass("serve", "--port", str(free_port()), "--store", store),
        cwd=REPO,
        env={**server_env(store), "HALLPASS_LOG_FORMAT": "xml"},
        capture_output=True,
        text=True,
        timeout=PATIENCE * 3,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "HALLPASS_LOG_FORMAT" in done.stderr and "xml" in done.stderr
