"""The report projection against a brute-force count over the same events.

A small school is run for several days by the real rules (reports_kit), its
events folded into the aggregates, and every report, over several periods and
for every room, compared with the same figure counted pass by pass from the
replayed school state and the event log.
"""

from __future__ import annotations

from datetime import date, timedelta

import msgspec
import pytest
from reports_kit import (
    CLASSROOMS,
    brute_destinations,
    brute_hours,
    brute_students,
    brute_waits,
    brute_weekdays,
    closed_from_line,
    simulate,
    trips,
)

from hallpass.events.store import StoredEvent
from hallpass.events.types import PassCreated, StudentErased
from hallpass.projections.state import replay
from hallpass.reports import queries
from hallpass.reports.aggregates import (
    Aggregates,
    decode,
    fold,
    forget_students_before,
)
from hallpass.reports.aggregates import (
    encode as encode_aggregates,
)
from hallpass.reports.queries import Period

ROOMS = (None, *CLASSROOMS, "rest", "lib", "nurse", "gym", "water")
SEEDS = (1, 2, 3)


def folded(events: list[StoredEvent]) -> Aggregates:
    aggregates = Aggregates()
    for stored in events:
        fold(aggregates, stored)
    return aggregates


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed {s}" for s in SEEDS])
def school(request: pytest.FixtureRequest) -> tuple[list[StoredEvent], Aggregates]:
    events = simulate(request.param)
    return events, folded(events)


def periods(aggregates: Aggregates) -> list[tuple[date, date]]:
    days = sorted(aggregates.days)
    assert len(days) >= 6
    return [
        (days[0], days[-1]),  # everything
        (days[1], days[3]),  # a few days in the middle (across the weekend and the clock change)
        (days[2], days[2]),  # one day
        (days[-1] + timedelta(days=1), days[-1] + timedelta(days=30)),  # nothing yet
        (date.min, date.max),
    ]


def minutes(seconds: float) -> float:
    return round(seconds / 60, 1)


def test_the_simulated_school_exercises_what_the_reports_count(
    school: tuple[list[StoredEvent], Aggregates],
) -> None:
    events, _ = school
    found = trips(events)
    assert sum(t.started_day is not None for t in found) > 500
    assert sum(t.waited is not None for t in found) > 50
    assert sum(t.gave_up_day is not None for t in found) > 10
    assert sum(t.record.overtime for t in found) > 20
    assert len({t.started_day for t in found if t.started_day}) >= 6


def test_passes_per_hour_and_weekday_equal_a_count_of_the_passes(
    school: tuple[list[StoredEvent], Aggregates],
) -> None:
    events, aggregates = school
    found = trips(events)
    for first, last in periods(aggregates):
        for room in ROOMS:
            period = Period(first, last, room)
            hours = queries.hours(aggregates, period)
            assert [r.hour for r in hours.rows] == list(range(24))
            assert [r.passes for r in hours.rows] == brute_hours(found, first, last, room)
            weekdays = queries.weekdays(aggregates, period)
            assert [r.weekday for r in weekdays.rows] == list(queries.WEEKDAYS)
            assert [r.passes for r in weekdays.rows] == brute_weekdays(found, first, last, room)


def test_destinations_equal_a_count_of_the_passes(
    school: tuple[list[StoredEvent], Aggregates],
) -> None:
    events, aggregates = school
    found = trips(events)
    for first, last in periods(aggregates):
        for room in ROOMS:
            report = queries.destinations(aggregates, Period(first, last, room))
            expected = brute_destinations(found, first, last, room)
            assert {r.room for r in report.rows} == set(expected)
            for row in report.rows:
                s = expected[row.room]
                assert (row.passes, row.ended, row.overtime) == (
                    s["passes"],
                    s["ended"],
                    s["overtime"],
                )
                assert row.average_minutes == minutes(s["seconds"] / s["ended"])
                assert row.longest_minutes == minutes(s["longest"])
                assert row.overtime_rate == round(s["overtime"] / s["ended"], 4)
            assert [r.passes for r in report.rows] == sorted(
                (r.passes for r in report.rows), reverse=True
            )
            total = report.total
            ended = sum(s["ended"] for s in expected.values())
            assert total.passes == sum(s["passes"] for s in expected.values())
            assert total.ended == ended
            assert total.overtime == sum(s["overtime"] for s in expected.values())
            if ended:
                seconds = sum(s["seconds"] for s in expected.values())
                assert total.average_minutes == minutes(seconds / ended)
                assert total.longest_minutes == minutes(
                    max(s["longest"] for s in expected.values())
                )
            else:
                assert total.average_minutes is None and total.overtime_rate is None


def test_waits_in_line_equal_a_count_of_the_passes(
    school: tuple[list[StoredEvent], Aggregates],
) -> None:
    events, aggregates = school
    found = trips(events)
    everything = Period(date.min, date.max)
    assert queries.waits(aggregates, everything).total.gave_up == closed_from_line(events)
    for first, last in periods(aggregates):
        for room in ROOMS:
            report = queries.waits(aggregates, Period(first, last, room))
            expected = {
                k: v
                for k, v in brute_waits(found, first, last, room).items()
                if v["waited"] or v["gave_up"]
            }
            assert {r.room for r in report.rows} == set(expected)
            for row in report.rows:
                s = expected[row.room]
                assert (row.waited, row.gave_up) == (s["waited"], s["gave_up"])
                if s["waited"]:
                    assert row.average_wait_minutes == minutes(s["seconds"] / s["waited"])
                    assert row.longest_wait_minutes == minutes(s["longest"])
                else:
                    assert row.average_wait_minutes is None
            assert report.total.waited == sum(s["waited"] for s in expected.values())


@pytest.mark.parametrize("by", ["passes", "minutes"])
def test_the_students_with_the_most_equal_a_count_of_the_passes(
    school: tuple[list[StoredEvent], Aggregates], by: queries.StudentsBy
) -> None:
    events, aggregates = school
    found = trips(events)
    for first, last in periods(aggregates):
        for room in ROOMS:
            expected = brute_students(found, first, last, room)
            report = queries.students(aggregates, Period(first, last, room), by, limit=1000)
            assert {r.student: (r.passes, r.minutes_out) for r in report.rows} == {
                student: (passes, minutes(seconds))
                for student, (passes, seconds) in expected.items()
            }
            ranked = [
                (r.passes, r.minutes_out) if by == "passes" else (r.minutes_out, r.passes)
                for r in report.rows
            ]
            assert ranked == sorted(ranked, reverse=True)
            top = queries.students(aggregates, Period(first, last, room), by, limit=3)
            assert top.rows == report.rows[:3]


def test_the_aggregates_survive_a_snapshot_and_go_on_folding(
    school: tuple[list[StoredEvent], Aggregates],
) -> None:
    events, aggregates = school
    half = len(events) // 2
    first = folded(events[:half])
    restored = decode(encode_aggregates(first))
    assert restored == first
    for stored in events[half:]:
        fold(restored, stored)
    assert restored == aggregates
    # The JSON of the Structs works as well (dates and hours as keys).
    assert msgspec.json.decode(msgspec.json.encode(aggregates), type=Aggregates) == aggregates


def test_retention_drops_the_named_tallies_and_keeps_the_counts(
    school: tuple[list[StoredEvent], Aggregates],
) -> None:
    events, aggregates = school
    trimmed = decode(encode_aggregates(aggregates))
    days = sorted(trimmed.days)
    cut = days[3]
    found = trips(events)
    student_days = {(t.record.student, t.started_day) for t in found if t.started_day}
    assert forget_students_before(trimmed, cut) == sum(day < cut for _, day in student_days)
    everything = Period(date.min, date.max)
    for report in (queries.hours, queries.weekdays, queries.destinations, queries.waits):
        assert report(trimmed, everything) == report(aggregates, everything)
    for day in days[:3]:
        assert trimmed.days[day].by_room == {}
    assert all(found.days[0] >= cut for found in trimmed.students.values())
    for room in ROOMS:
        named = queries.students(trimmed, Period(date.min, date.max, room), "passes", 1000)
        assert named.students_from == cut
        expected = brute_students(found, cut, date.max, room)
        assert {r.student: (r.passes, r.minutes_out) for r in named.rows} == {
            s: (p, minutes(seconds)) for s, (p, seconds) in expected.items()
        }
        # Asking for days before the cut finds no one.
        early = queries.students(trimmed, Period(days[0], days[2], room), "passes", 1000)
        assert early.rows == []


def test_a_deleted_student_leaves_the_named_tallies_and_the_notes(
    school: tuple[list[StoredEvent], Aggregates],
) -> None:
    events, aggregates = school
    everything = Period(date.min, date.max)
    top = queries.students(aggregates, everything, "passes", limit=1)
    student = top.rows[0].student
    erased = StoredEvent(
        len(events) + 1, StudentErased(at=events[-1].event.at, actor="op", student=student)
    )
    after = decode(encode_aggregates(aggregates))
    fold(after, erased)

    assert student not in {
        r.student for r in queries.students(after, everything, "passes", 1000).rows
    }
    assert student not in after.students
    for found in after.days.values():
        assert all(student not in tallies for tallies in found.by_room.values())
    # What names nobody stays as it was.
    for report in (queries.hours, queries.weekdays, queries.destinations, queries.waits):
        assert report(after, everything) == report(aggregates, everything)
    # The school's own fold forgets the student's notes, and only theirs.
    state = replay([*events, erased])
    notes = {e.event.pass_id: e.event.note for e in events if isinstance(e.event, PassCreated)}
    for record in state.passes.values():
        if record.student == student:
            assert record.note == ""
        else:
            assert record.note == notes[record.id] != ""


def test_an_event_about_an_unknown_pass_changes_nothing() -> None:
    events = simulate(4, days=1)
    aggregates = folded(events)
    strays = [s for s in events if not isinstance(s.event, PassCreated)]
    lenient = folded([StoredEvent(n, s.event) for n, s in enumerate(strays, start=1)])
    assert lenient.days == {}
    assert lenient.inflight == {}
    assert aggregates.days
