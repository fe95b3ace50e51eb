"""bench/all's bookkeeping and bench/throughput's parts that need no load:
docs/performance.md keeps what people wrote and takes each benchmark's
figures between its markers; the floor app answers like Hallpass; the load
generator's statistics."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from bench._all import blocks_of, goal_lines, update
from bench._floor_app import Sample, create_floor_app
from bench._throughput_load import Recorder

DOCUMENT = """# Performance

Intro written by hand.

<!-- bench:machine -->
old machine
<!-- /bench:machine -->

## Command throughput (`bench/throughput`)

Prose before.

<!-- bench:throughput -->
old figures
<!-- /bench:throughput -->

Prose after, about what bounds it.

## Reports (`bench/reports`)

Hand-written figures, no markers yet.
"""


def test_update_replaces_only_what_stands_between_markers() -> None:
    updated = update(DOCUMENT, {"throughput": "new figures\n", "machine": "new machine\n"})
    assert "old figures" not in updated and "old machine" not in updated
    assert "<!-- bench:throughput -->\nnew figures\n<!-- /bench:throughput -->" in updated
    for kept in ("Intro written by hand.", "Prose before.", "Prose after, about what bounds it."):
        assert kept in updated
    assert (
        updated.index("Prose before.") < updated.index("new figures") < updated.index("Prose after")
    )


def test_update_puts_figures_at_the_end_of_a_section_without_markers() -> None:
    updated = update(DOCUMENT, {"reports": "report figures\n"})
    assert updated.count("## Reports (`bench/reports`)") == 1
    section = updated[updated.index("## Reports") :]
    assert section.index("Hand-written figures") < section.index("<!-- bench:reports -->")


def test_update_adds_a_section_for_a_block_it_has_never_seen() -> None:
    updated = update(DOCUMENT, {"replay": "replay figures\n"})
    assert updated.rstrip().endswith(
        "## Replay (`bench/replay`)\n\n<!-- bench:replay -->\nreplay figures\n<!-- /bench:replay -->"
    )
    assert update(updated, {"replay": "again\n"}).count("## Replay") == 1


def test_a_fresh_document_gets_a_title_and_the_machine_first() -> None:
    updated = update("", {"machine": "the machine\n", "live": "live figures\n"})
    assert updated.startswith("# Performance")
    assert updated.index("the machine") < updated.index("## Live fan-out")


def test_a_file_of_blocks_splits_by_its_markers_and_a_plain_file_is_one_block() -> None:
    text = "<!-- bench:a -->\none\n<!-- /bench:a -->\n\n<!-- bench:b -->\ntwo\n<!-- /bench:b -->\n"
    assert blocks_of(text, "x") == {"a": "one\n", "b": "two\n"}
    assert blocks_of("plain", "x") == {"x": "plain\n"}


def test_goal_lines_are_gathered_with_their_benchmark() -> None:
    goals = goal_lines({"replay": "| table |\n\nGoal: fold at least 0.5: 0.61 (met).\n"})
    assert goals == ["Replay (`bench/replay`): fold at least 0.5: 0.61 (met)."]


# --- the floor ----------------------------------------------------------------------

SAMPLE = Sample(
    create={
        "id": "pass_00000000000000000000",
        "origin": "r1",
        "destination": "r2",
        "state": "active",
    },
    end={"id": "pass_00000000000000000000", "origin": "r1", "destination": "r2", "state": "ended"},
)


@pytest.fixture
async def floor() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_floor_app(SAMPLE))
    return httpx.AsyncClient(transport=transport, base_url="http://floor")


async def test_the_floor_answers_a_create_and_an_end_like_hallpass(
    floor: httpx.AsyncClient,
) -> None:
    signed_in = {"Cookie": "hallpass_session=token"}
    body = {"origin": "r1", "destination": "r2"}
    made = await floor.post("/api/passes", json=body, headers=signed_in)
    assert made.status_code == 201
    pass_id = made.json()["id"]
    assert pass_id.startswith("pass_") and len(pass_id) == len(SAMPLE.create["id"])
    # Hallpass's answer with another id of the same length: the same bytes.
    assert made.content == msgspec.json.encode({**SAMPLE.create, "id": pass_id})
    ended = await floor.post(f"/api/passes/{pass_id}/end", headers=signed_in)
    assert ended.status_code == 200
    assert ended.json() == {**SAMPLE.end, "id": pass_id}


async def test_the_floor_refuses_a_request_without_the_session_cookie(
    floor: httpx.AsyncClient,
) -> None:
    refused = await floor.post("/api/passes", json={"origin": "r1", "destination": "r2"})
    assert refused.status_code == 401


# --- the load generator's figures ------------------------------------------------------


def test_only_commands_finished_inside_the_window_count() -> None:
    recorder = Recorder()
    recorder.start, recorder.stop = 10.0, 20.0
    recorder.done("create", 9.0, 9.5, 100)  # warm-up
    for i in range(100):
        recorder.done("create", 11.0, 11.0 + (i + 1) / 1000, 600)
    recorder.done("create", 19.9, 20.5, 100)  # after the window
    stats = recorder.stats("create")
    assert stats.count == 100
    assert stats.p50_ms == pytest.approx(50.0)
    assert stats.p99_ms == pytest.approx(99.0)
    assert stats.mean_bytes == 600
    assert recorder.stats("end").count == 0
