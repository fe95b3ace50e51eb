"""Events survive the trip to the store and back, today and after the schema grows.

tests/data/events-v*.jsonl hold events exactly as an earlier release encoded
them, one line per event type; they are never edited. A new event type gets
its sample in a new file (events-v2.jsonl, ...), written with `encode`.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hallpass.events.types import AnyEvent, Event, PassCreated, decode, encode

DATA = Path(__file__).parent / "data"
EVENT_TYPES: tuple[type[Event], ...] = typing.get_args(AnyEvent)


def tag(event_type: type[Event]) -> str:
    tag_value = msgspec.inspect.type_info(event_type).tag  # type: ignore[attr-defined]
    assert isinstance(tag_value, str)
    return tag_value


def every_field(struct_type: type[msgspec.Struct]) -> st.SearchStrategy[Any]:
    """Builds the struct with each field drawn, defaults included, so that no
    field goes untested (hypothesis would pass msgspec's default factories
    through as values)."""
    hints = typing.get_type_hints(struct_type)
    return st.builds(
        struct_type, **{name: of_type(hints[name]) for name in struct_type.__struct_fields__}
    )


def of_type(hint: Any) -> st.SearchStrategy[Any]:
    if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
        return every_field(hint)
    if typing.get_origin(hint) is list:
        return st.lists(of_type(typing.get_args(hint)[0]), max_size=3)
    return st.from_type(hint)


def stored_lines() -> list[tuple[str, bytes]]:
    return [
        (f"{path.name}:{number}", line)
        for path in sorted(DATA.glob("events-v*.jsonl"))
        for number, line in enumerate(path.read_bytes().splitlines(), start=1)
        if line.strip()
    ]


STORED = stored_lines()


@settings(max_examples=400)
@given(st.one_of(*(every_field(event_type) for event_type in EVENT_TYPES)))
def test_every_event_type_round_trips(event: Event) -> None:
    assert decode(encode(event)) == event


def test_every_event_type_has_a_stored_sample() -> None:
    stored_tags = {msgspec.json.decode(line)["type"] for _, line in STORED}
    missing = {tag(event_type) for event_type in EVENT_TYPES} - stored_tags
    assert not missing, f"add a sample of {sorted(missing)} to a new tests/data/events-vN.jsonl"


@pytest.mark.parametrize(("where", "line"), STORED, ids=[where for where, _ in STORED])
def test_a_stored_event_still_decodes_to_what_it_said(where: str, line: bytes) -> None:
    event = decode(line)

    assert tag(type(event)) == msgspec.json.decode(line)["type"]
    # Re-encoding keeps every stored value (fields added since take their defaults).
    assert msgspec.json.decode(encode(event)) == msgspec.json.decode(line)


def test_an_event_stored_before_a_field_existed_takes_its_default() -> None:
    line = next(line for _, line in STORED if b'"pass_created"' in line)
    older = msgspec.json.decode(line)
    assert older["kind"] != "student"
    assert older["note"] != ""
    del older["kind"], older["note"]

    event = decode(msgspec.json.encode(older))

    assert isinstance(event, PassCreated)
    assert (event.kind, event.note) == ("student", "")
    assert event.pass_id == older["pass_id"]


@pytest.mark.parametrize(("where", "line"), STORED, ids=[where for where, _ in STORED])
def test_fields_written_by_a_newer_release_are_ignored(where: str, line: bytes) -> None:
    newer = msgspec.json.decode(line)
    newer["added_in_a_later_release"] = {"any": ["shape", 1]}

    assert decode(msgspec.json.encode(newer)) == decode(line)


def test_policy_fields_written_by_a_newer_release_are_ignored() -> None:
    line = next(line for _, line in STORED if b'"policies_set"' in line)
    newer = msgspec.json.decode(line)
    newer["policies"]["added_in_a_later_release"] = 1

    assert decode(msgspec.json.encode(newer)) == decode(line)
