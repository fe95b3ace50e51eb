"""`hallpass serve` and `hallpass worker` refusing what they cannot run, and
the Procfile naming commands the CLI accepts."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from processes import REPO, hallpass
from servers import server_env

from hallpass.cli import build_parser
from hallpass.service import serve


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        hallpass(*args),
        cwd=REPO,
        env=server_env("sqlite:///unused.db", env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_the_worker_on_the_embedded_store_says_serve_runs_its_jobs(tmp_path: Path) -> None:
    done = run("worker", "--store", f"sqlite:///{tmp_path / 'hallpass.db'}")
    assert done.returncode == 2
    assert "hallpass serve" in one_line(done.stderr)
    assert done.stdout == ""
    assert not (tmp_path / "hallpass.db").exists()  # it opened nothing


def test_the_worker_refuses_a_url_that_names_no_store() -> None:
    done = run("worker", "--store", "ftp://example.org/x")
    assert done.returncode == 2
    assert "store URL" in one_line(done.stderr)


def test_serve_refuses_the_demo_in_production(tmp_path: Path) -> None:
    production = {"HALLPASS_ENV": "production", "HALLPASS_SECRET_KEY": "k" * 32}
    done = run("serve", "--store", f"sqlite:///{tmp_path / 'h.db'}", "--demo", env=production)
    assert done.returncode == 2
    assert "HALLPASS_DEMO" in one_line(done.stderr)


@pytest.mark.parametrize("port", ["0", "70000"])
def test_serve_refuses_a_port_that_is_not_one(tmp_path: Path, port: str) -> None:
    done = run("serve", "--store", f"sqlite:///{tmp_path / 'h.db'}", "--port", port)
    assert done.returncode == 2
    assert port in one_line(done.stderr)


def test_serve_refuses_a_store_in_a_missing_folder(tmp_path: Path) -> None:
    done = run("serve", "--store", f"sqlite:///{tmp_path / 'missing' / 'h.db'}")
    assert done.returncode == 2
    assert "does not exist" in one_line(done.stderr)


@pytest.mark.parametrize("process", ["web", "worker"])
def test_the_procfile_commands_parse(process: str) -> None:
    lines = dict(
        line.split(":", 1) for line in (REPO / "Procfile").read_text().splitlines() if line
    )
    command = lines[process].replace("$PORT", "5000").replace("$HALLPASS_STORE", "redis://r:6379/0")
    words = shlex.split(command)
    assert words[0] == "hallpass"
    args = build_parser().parse_args(words[1:])
    assert args.command == {"web": "serve", "worker": "worker"}[process]
    assert args.store == "redis://r:6379/0"
    if process == "web":
        assert (args.host, args.port, args.demo) == ("0.0.0.0", 5000, False)
        assert args.handler is serve.run_serve
    else:
        assert args.handler is serve.run_worker


def test_the_serve_defaults_are_api_md_s() -> None:
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.store, args.demo) == ("127.0.0.1", 8000, None, False)
    assert args.proxy_headers is True and args.access_log is False
