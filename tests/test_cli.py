"""The `hallpass` command end to end: the installed script in a child process,
against a SQLite file and the real Redis."""

from __future__ import annotations

import io
import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from hallpass.backend import open_backend
from hallpass.cli import main
from hallpass.passwords import pin_key, verify_password
from hallpass.provision import add_room, add_school, add_user, require_school
from hallpass.service.runtime import SchoolRuntime

HALLPASS = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "hallpass"


class Ran(msgspec.Struct):
    code: int
    out: str
    err: str


def hallpass(*args: str, stdin: str = "", cwd: Path | None = None) -> Ran:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALLPASS_")}
    done = subprocess.run(
        [str(HALLPASS), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def succeeded(ran: Ran) -> str:
    assert (ran.code, ran.err) == (0, ""), ran
    lines = ran.out.splitlines()
    assert len(lines) == 1, ran
    return lines[0]


def refused(ran: Ran, code: int) -> str:
    """A refusal is one line on standard error, nothing on standard output."""
    assert ran.code == code, ran
    assert ran.out == ""
    lines = ran.err.splitlines()
    assert len(lines) == 1, ran
    assert "Traceback" not in ran.err
    return lines[0]


@pytest.fixture
async def slug(store_url: str, new_school: Callable[[], str]) -> str:
    """A school on the test's backend (added in-process: quicker than a child)."""
    slug = new_school()
    async with await open_backend(store_url) as backend:
        await add_school(backend, slug, "Lincoln High")
    return slug


async def test_school_room_and_users_are_added(
    store_url: str, new_school: Callable[[], str]
) -> None:
    slug = new_school()
    line = succeeded(
        hallpass(
            "school", "add", slug, "--name", "Lincoln High", "--timezone", "America/New_York",
            "--store", store_url,
        )
    )  # fmt: skip
    assert slug in line and "America/New_York" in line

    line = succeeded(
        hallpass(
            "room", "add", slug, "Room 204", "--capacity", "3", "--minutes", "7",
            "--store", store_url,
        )
    )  # fmt: skip
    (room_id,) = [word.strip("()") for word in line.split() if word.startswith("(room_")]
    succeeded(hallpass("room", "add", slug, "Nurse", "--locked", "--store", store_url))

    def add_user(*args: str, password: str = "pw-1234\n") -> str:
        line = succeeded(hallpass("user", "add", slug, *args, "--password-stdin",
                                  "--store", store_url, stdin=password))  # fmt: skip
        (user_id,) = [w.strip("()") for w in line.split() if w.startswith("(user_")]
        return user_id

    student_id = add_user("ana", "--role", "student", "--name", "Ana Diaz", "--number", "100001")
    teacher_id = add_user("lee", "--role", "teacher", "--name", "Sam Lee", "--pin", "4321")
    kiosk_by_name = add_user("k1", "--role", "kiosk", "--name", "Hall Kiosk", "--room", "room 204")
    kiosk_by_id = add_user("k2", "--role", "kiosk", "--name", "Kiosk 2", "--room", room_id)
    add_user("boss", "--role", "admin", "--name", "Pat Boss", password="p w\twith spaces")

    async with await open_backend(store_url) as backend:
        runtime = await SchoolRuntime.load(backend.store, slug)
        await runtime.close()
        assert runtime.state.policies.timezone == "America/New_York"
        rooms = {r.name: r for r in runtime.state.rooms.values()}
        assert set(rooms) == {"Room 204", "Nurse"}
        assert rooms["Room 204"].id == room_id
        assert (rooms["Room 204"].capacity, rooms["Room 204"].minutes) == (3, 7)
        assert (rooms["Nurse"].locked, rooms["Nurse"].minutes) == (True, 5)

        school = await backend.directory.get_school(slug)
        assert school is not None and school.timezone == "America/New_York"
        users = {u.username: u for u in await backend.directory.users(slug)}
        assert set(users) == {"ana", "lee", "k1", "k2", "boss"}
        assert users["ana"].id == student_id and users["ana"].number == "100001"
        assert users["lee"].id == teacher_id
        assert users["lee"].pin_key == pin_key(school.secret, "4321")
        assert users["k1"].id == kiosk_by_name and users["k1"].room == room_id
        assert users["k2"].id == kiosk_by_id and users["k2"].room == room_id
        # The final line break of the piped password is not part of it.
        assert verify_password(users["ana"].password_hash, "pw-1234")
        assert verify_password(users["boss"].password_hash, "p w\twith spaces")


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (["school", "add", "SLUG", "--name", "Again"], "", "already exists"),
        (["room", "add", "no-such-school", "Gym"], "", "no school"),
        (["room", "add", "SLUG", "Gym", "--capacity", "0"], "", "capacity"),
        (["user", "add", "SLUG", "kio", "--role", "kiosk", "--name", "K", "--room", "Moon"], "pw",
         "no room 'Moon'"),
        (["user", "add", "no-such-school", "ana", "--role", "admin", "--name", "A"], "pw",
         "no school"),
    ],
)  # fmt: skip
def test_a_refused_action_is_one_line_and_exit_1(
    slug: str, store_url: str, args: list[str], stdin: str, says: str
) -> None:
    args = [slug if a == "SLUG" else a for a in args]
    extra = ["--password-stdin"] if args[0] == "user" else []
    line = refused(hallpass(*args, *extra, "--store", store_url, stdin=stdin), 1)
    assert says in line


async def test_taken_usernames_numbers_pins_and_room_names_are_refused(
    slug: str, store_url: str
) -> None:
    # What is already there is added in-process; the refusals go through the script.
    async with await open_backend(store_url) as backend:
        school = await require_school(backend.directory, slug)
        for username, role, extra in [
            ("ana", "student", {"number": "7"}),
            ("lee", "teacher", {"pin": "1234"}),
        ]:
            await add_user(backend.directory, school, username=username, role=role,
                           name=username.title(), password_hash="x", **extra)  # fmt: skip
        runtime = await SchoolRuntime.load(backend.store, slug)
        await add_room(runtime, "Gym")
        await runtime.close()

    def user_add(*args: str) -> Ran:
        return hallpass("user", "add", slug, *args, "--password-stdin", "--store", store_url,
                        stdin="pw")  # fmt: skip

    assert "username" in refused(user_add("ana", "--role", "admin", "--name", "Other Ana"), 1)
    assert "number" in refused(
        user_add("bo", "--role", "student", "--name", "Bo", "--number", "7"), 1
    )
    pin_taken = refused(user_add("kim", "--role", "teacher", "--name", "Kim", "--pin", "1234"), 1)
    assert "PIN" in pin_taken and "lee" not in pin_taken
    assert "already a room" in refused(
        hallpass("room", "add", slug, "gym", "--store", store_url), 1
    )


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (["school", "add", "Bad_Slug", "--name", "X"], "", "slug"),
        (["school", "add", "ok-slug", "--name", "X", "--timezone", "Mars/Olympus"], "", "time zone"),
        (["school", "add", "ok-slug"], "", "--name"),
        (["room", "add", "demo", "Gym", "--capacity", "lots"], "", "--capacity"),
        (["user", "add", "demo", "u", "--role", "janitor", "--name", "U", "--password-stdin"], "pw",
         "--role"),
        (["user", "add", "demo", "u", "--role", "student", "--name", "U", "--password-stdin"], "pw",
         "student number"),
        (["user", "add", "demo", "u", "--role", "teacher", "--name", "U", "--pin", "12",
          "--password-stdin"], "pw", "PIN"),
        (["user", "add", "demo", "u", "--role", "admin", "--name", "U"], "pw", "--password-stdin"),
        (["user", "add", "demo", "u", "--role", "admin", "--name", "U", "--password-stdin"], "",
         "No password"),
        (["user", "add", "demo", "u", "--role", "kiosk", "--name", "K", "--password-stdin"], "pw",
         "--room"),
        (["demo", "--store", "/var/lib/hallpass.db"], "", "not a store URL"),
        (["demo", "--store", "mysql://db/x"], "", "not a store URL"),
        (["frobnicate"], "", "invalid choice"),
    ],
)  # fmt: skip
def test_bad_usage_is_one_line_and_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    stdin: str,
    says: str,
) -> None:
    # In-process (each child costs a third of a second); the script itself is
    # run for a few of these below. Nothing here may reach a store: if one
    # did, it would be this folder's.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HALLPASS_STORE", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    try:
        code = main(args)
    except SystemExit as exit:  # argparse's own refusals
        code = int(exit.code or 0)
    out, err = capsys.readouterr()
    line = refused(Ran(code, out, err), 2)
    assert says in line
    assert not (tmp_path / "hallpass.db").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["school", "add", "Bad_Slug", "--name", "X"], "slug"),
        (["user", "add", "demo", "u", "--role", "janitor", "--name", "U", "--password-stdin"],
         "--role"),
        (["demo", "--store", "/var/lib/hallpass.db"], "not a store URL"),
    ],
)  # fmt: skip
def test_the_script_reports_bad_usage_in_one_line(
    tmp_path: Path, args: list[str], says: str
) -> None:
    line = refused(hallpass(*args, stdin="pw", cwd=tmp_path), 2)
    assert line.startswith("hallpass") and says in line
    assert not (tmp_path / "hallpass.db").exists()


def test_an_unreachable_store_is_one_line_and_exit_1() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    line = refused(hallpass("demo", "--store", f"redis://127.0.0.1:{port}/0"), 1)
    assert "cannot be reached" in line


def test_the_store_defaults_to_hallpass_db_in_the_current_folder(tmp_path: Path) -> None:
    succeeded(hallpass("school", "add", "here", "--name", "Here", cwd=tmp_path))
    assert (tmp_path / "hallpass.db").is_file()
    assert "already exists" in refused(
        hallpass("school", "add", "here", "--name", "Here", "--store", "sqlite:///hallpass.db",
                 cwd=tmp_path), 1
    )  # fmt: skip
