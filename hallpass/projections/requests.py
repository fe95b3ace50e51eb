"""Teachers' requests as students and staff list them."""

from __future__ import annotations

from hallpass.projections.records import RequestRecord
from hallpass.projections.state import SchoolState


def list_requests(
    state: SchoolState, student: str | None = None, *, open_only: bool = False
) -> list[RequestRecord]:
    """Requests newest first: a student's (`student`) or the school's."""
    requests = state.requests
    if open_only:
        ids = list(state.open_requests)
        records = [requests[rid] for rid in reversed(ids)]
        return records if student is None else [r for r in records if r.student == student]
    if student is None:
        return [requests[rid] for rid in reversed(requests)]
    return [requests[rid] for rid in reversed(state.requests_by_student.get(student, ()))]


def open_requests(state: SchoolState, student: str | None = None) -> list[RequestRecord]:
    """Requests still waiting for an answer, newest first."""
    return list_requests(state, student, open_only=True)
