"""`hallpass serve` and `hallpass worker` as real child processes.

tests/servers.py starts the app under uvicorn's own command; these start the
service the way a deployment does (the Procfile's commands), so that tests of
several processes exercise `hallpass serve` and `hallpass worker` themselves.
Each child's output goes to a log file in the test's folder, shown when it
fails to start.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from servers import REPO, free_port, server_env

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
# What `hallpass worker` logs once it follows every school (hallpass.worker.startup).
WORKER_READY = "hallpass worker ready"


def hallpass(*args: str) -> list[str]:
    return [sys.executable, "-m", "hallpass.cli", *args]


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}:\n{self.output()}"
            )


@dataclass
class Served(Child):
    url: str = ""
    ws_url: str = ""


def _spawn(
    name: str, command: list[str], folder: Path, store_url: str, env: Mapping[str, str] | None
) -> Child:
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"{name}.log"
    with log_path.open("ab") as log_file:  # the child keeps its own descriptor
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=server_env(store_url, env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    return Child(name, process, log_path)


async def start_serve(
    store_url: str,
    folder: Path,
    *,
    name: str = "serve",
    demo: bool = False,
    env: Mapping[str, str] | None = None,
) -> Served:
    """`hallpass serve` on a free loopback port, once GET /healthz answers."""
    port = free_port()
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--store", store_url]
    child = _spawn(name, hallpass(*args, *(["--demo"] if demo else [])), folder, store_url, env)
    served = Served(
        child.name,
        child.process,
        child.log_path,
        url=f"http://127.0.0.1:{port}",
        ws_url=f"ws://127.0.0.1:{port}",
    )
    try:
        await _wait_until_healthy(served)
    except BaseException:
        served.stop()
        raise
    return served


async def start_worker(store_url: str, folder: Path, *, name: str = "worker") -> Child:
    """`hallpass worker`, once it follows every school of the store."""
    child = _spawn(name, hallpass("worker", "--store", store_url), folder, store_url, None)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while WORKER_READY not in child.output():
            child.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not become ready:\n{child.output()}")
            await asyncio.sleep(0.05)
    except BaseException:
        child.stop()
        raise
    return child


def run_hallpass(store_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a short `hallpass` command to the end (e.g. `demo`)."""
    return subprocess.run(
        hallpass(*args, "--store", store_url),
        cwd=REPO,
        env=server_env(store_url),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )


async def _wait_until_healthy(served: Served) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with httpx.AsyncClient(base_url=served.url, timeout=2.0) as client:
        while True:
            served.check_alive()
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{served.name} did not become healthy:\n{served.output()}")
            await asyncio.sleep(0.05)
