"""The processes bench/throughput starts: redis-server, `hallpass serve`,
`hallpass worker`, the floor app and the load generator. Each child gets a
clean HALLPASS_* environment and a log file in the run's folder, shown when
it fails to start."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
WORKER_READY = "hallpass worker ready"  # hallpass.worker logs it once it follows every school


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(store_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALLPASS_")}
    env.update({"HALLPASS_STORE": store_url, "HALLPASS_ENV": "development"})
    return env


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    url: str = ""  # for a server: http://127.0.0.1:PORT

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}:\n{self.output()}"
            )

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def spawn(name: str, command: list[str], folder: Path, store_url: str) -> Child:
    log_path = folder / f"{name}.log"
    with log_path.open("ab") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=clean_env(store_url),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Child(name, process, log_path)


def wait_healthy(child: Child) -> Child:
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(base_url=child.url, timeout=2.0) as client:
        while True:
            child.check_alive()
            try:
                if client.get("/healthz").status_code == 200:
                    return child
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                child.stop()
                raise RuntimeError(f"{child.name} did not become healthy:\n{child.output()}")
            time.sleep(0.05)


def hallpass(*args: str) -> list[str]:
    return [sys.executable, "-m", "hallpass.cli", *args]


def start_serve(store_url: str, folder: Path, name: str = "serve") -> Child:
    """`hallpass serve` as an operator runs it, on a free loopback port."""
    port = free_port()
    command = hallpass("serve", "--host", "127.0.0.1", "--port", str(port), "--store", store_url)
    child = spawn(name, command, folder, store_url)
    child.url = f"http://127.0.0.1:{port}"
    return wait_healthy(child)


def start_floor(sample: Path, store_url: str, folder: Path) -> Child:
    port = free_port()
    command = [sys.executable, "-m", "bench._floor_app", "--port", str(port)]
    child = spawn("floor", [*command, "--sample", str(sample)], folder, store_url)
    child.url = f"http://127.0.0.1:{port}"
    return wait_healthy(child)


def start_worker(store_url: str, folder: Path) -> Child:
    child = spawn("worker", hallpass("worker", "--store", store_url), folder, store_url)
    deadline = time.monotonic() + START_TIMEOUT
    while WORKER_READY not in child.output():
        child.check_alive()
        if time.monotonic() > deadline:
            child.stop()
            raise RuntimeError(f"the worker did not become ready:\n{child.output()}")
        time.sleep(0.05)
    return child


def start_redis(folder: Path) -> tuple[Child, str]:
    """redis-server on loopback with the append-only file fsynced every
    second, as deploy/redis.conf runs it."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError("redis-server is not on PATH (apt-get install redis-server)")
    port = free_port()
    data = folder / "redis"
    data.mkdir(parents=True, exist_ok=True)
    command = [executable, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data)]
    command += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
    url = f"redis://127.0.0.1:{port}/0"
    child = spawn("redis", command, folder, url)
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while True:
            child.check_alive()
            try:
                if client.ping():
                    return child, url
            except redis.exceptions.ConnectionError:
                pass
            if time.monotonic() > deadline:
                child.stop()
                raise RuntimeError(f"redis-server did not answer:\n{child.output()}")
            time.sleep(0.05)
    finally:
        client.close()


def run_generator(plan: bytes, folder: Path) -> bytes:
    """The load generator (bench/_throughput_load.py), in a process of its own."""
    with (folder / "generator.log").open("ab") as log:
        done = subprocess.run(
            [sys.executable, "-m", "bench._throughput_load"],
            cwd=REPO,
            input=plan,
            stdout=subprocess.PIPE,
            stderr=log,
            check=False,
        )
    if done.returncode != 0:
        text = (folder / "generator.log").read_text(errors="replace")
        raise RuntimeError(f"the load generator failed ({done.returncode}):\n{text}")
    return done.stdout


class Profiler:
    """py-spy recording some processes while they are loaded (--profile)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, pids: list[int]) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        beside = Path(sys.executable).parent / "py-spy"
        spy = os.environ.get("PY_SPY") or shutil.which("py-spy") or str(beside)
        for i, pid in enumerate(pids):
            # Collapsed stacks ("raw"): one line a stack, easy to sum up.
            output = self.folder / f"{name}-{i + 1}.txt"
            command = [spy, "record", "--pid", str(pid), "--format", "raw"]
            # --gil: only the thread running Python counts, so store threads
            # waiting on the disk do not crowd the picture.
            command += ["--output", str(output), "--nonblocking", "--rate", "200", "--gil"]
            self.running.append(
                subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        time.sleep(1.0)  # let it attach

    def stop(self) -> None:
        for process in self.running:
            process.send_signal(signal.SIGINT)
        for process in self.running:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.running.clear()
