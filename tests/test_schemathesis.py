"""Schemathesis against the served `/openapi.json`: every operation, as every
role, on a real uvicorn with the demo school, must answer within its
documented statuses and schemas and never with a 5xx.

Two runs:

- every operation on its own, as anonymous, student, kiosk, teacher and admin
  (the session cookie in the headers), with schema-conforming data and with
  data that breaks the schema. Schemathesis' dictionaries mix real ids into
  the generated data (rooms, students, passes, requests, PINs), so the fuzzer
  gets past "no such room" into the rules themselves;
- stateful sequences that follow the document's links (POST /api/passes ->
  POST /api/passes/{id}/end, GET /api/requests -> .../accept, ...), as a
  teacher and as a student.

Hypothesis runs derandomized with a fixed number of examples, so CI sees the
same requests every time. The admin runs last: its fuzzed policies, rooms and
sweeps would otherwise change what the others can reach.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hostile_kit import DEMO_PASSWORD, cookie_of
from hypothesis import HealthCheck, Phase
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from servers import Server, login, running_server

from hallpass.web.app import all_endpoints

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]

# Who is fuzzed, in this order (admin last), signed in as which demo user.
ROLES: dict[str, str | None] = {
    "anonymous": None,
    "student": "student05",
    "kiosk": "kiosk1",
    "teacher": "teacher2",
    "admin": "admin",
}
# Examples per operation and generation mode where the role may call it (for
# anonymous: the operations open to anyone). Where it may not, the refusal
# comes before the data is read: a couple of examples show it is documented.
EXAMPLES = {"anonymous": 8, "student": 8, "kiosk": 6, "teacher": 8, "admin": 8}
REFUSED_EXAMPLES = 2
STATEFUL_SCENARIOS = 30
STATEFUL_STEPS = 6

# Schemathesis speaks HTTP; the live updates are a WebSocket (test_hostile_ws).
NOT_HTTP = {"GET /ws"}
# Signing out mid-run would turn the rest of a role's run into 401s; the
# anonymous run covers both session operations.
SIGNED_IN_SKIPS = {"DELETE /api/session", "POST /api/session"}


def _settings(examples: int) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        print_blob=False,
    )


class Site:
    """The demo school behind a real server, with real ids to mix into the fuzz."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.cookies: dict[str, str] = {}
        self.rooms: list[str] = []
        self.students: list[str] = []
        self.numbers: list[str] = [str(100000 + n) for n in range(1, 41)]
        self.passes: list[str] = []
        self.requests: list[str] = []

    def headers(self, role: str) -> dict[str, str]:
        return {"Cookie": self.cookies[role]} if role in self.cookies else {}

    def config(self, role: str, *, known_items: bool = True) -> schemathesis.Config:
        """Headers for `role`, and dictionaries of real values that the
        generated data draws from some of the time: rooms, students, PINs
        and, with `known_items`, the ids of passes and requests in paths."""

        def words(values: list[str]) -> dict[str, list[str]]:
            return {"values": values}

        def sometimes(dictionary: str, probability: float = 0.6) -> dict[str, Any]:
            return {"dictionary": dictionary, "probability": probability}

        return schemathesis.Config.from_dict(
            {
                "headers": self.headers(role),
                "generation": {
                    "deterministic": True,
                    "database": "none",
                    # A signed-in role's cookie is the one in the headers; the
                    # anonymous run also tries made-up session cookies.
                    "with-security-parameters": role == "anonymous",
                },
                "dictionaries": {
                    "rooms": words(self.rooms),
                    "students": words(self.students),
                    "numbers": words(self.numbers),
                    "passes": words(self.passes),
                    "requests": words(self.requests),
                    "pins": words(["1111", "2222", "3333", "0000", "123456"]),
                    "states": words(["active", "pending,waiting", "ended", "open", "bogus"]),
                    "days": words(
                        [
                            "2026-11-30",
                            "2025-01-31T08:00:00Z",
                            "9999-12-31",
                            "0001-01-01",
                            "2026-11-30T23:59:59+14:00",
                        ]
                    ),
                    "limits": words(["1", "500", "0", "501", "-1"]),
                    "schools": words(["demo", "nowhere"]),
                    "instants": words(
                        [
                            _in(hours=2),
                            _in(days=-1),
                            "9999-12-31T23:59:59Z",
                            "9999-12-31T23:59:59-12:00",
                        ]
                    ),
                },
                "parameters": {
                    "body.origin": sometimes("rooms", 0.8),
                    "body.destination": sometimes("rooms", 0.8),
                    "body.student": sometimes("students"),
                    "body.student_number": sometimes("numbers"),
                    "body.favorites[*]": sometimes("rooms"),
                    "body.exempt[*]": sometimes("students"),
                    "body.pin": sometimes("pins"),
                    "body.start_at": sometimes("instants", 0.3),
                    "query.student": sometimes("students"),
                    "query.ids": sometimes("students"),
                    "query.room": sometimes("rooms"),
                    "query.state": sometimes("states"),
                    "query.from": sometimes("days"),
                    "query.to": sometimes("days"),
                    "query.limit": sometimes("limits"),
                    "path.school": sometimes("schools"),
                },
                "operations": [
                    {
                        "include-path-regex": f"^/api/{kind}/",
                        "parameters": {"path.id": sometimes(kind, 0.8)},
                    }
                    for kind in ("passes", "requests", "rooms")
                    if known_items
                ]
                + [
                    {"include-path-regex": path, "parameters": {"path.id": sometimes("students")}}
                    for path in ("^/api/users/", "^/api/exports/students/")
                ],
            }
        )

    def schema(self, role: str, *, known_items: bool = True) -> Any:
        schema = schemathesis.openapi.from_url(
            self.server.url + "/openapi.json", config=self.config(role, known_items=known_items)
        )
        schema.config.update(base_url=self.server.url)
        return schema


def _in(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


@pytest.fixture(scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'hallpass.db'}"
    async with running_server(url, env={"HALLPASS_DEMO": "1"}) as server:
        found = Site(server)
        clients: dict[str, httpx.AsyncClient] = {}
        try:
            for role, username in ROLES.items():
                if username is not None:
                    client = clients[role] = httpx.AsyncClient(base_url=server.url, timeout=30)
                    await login(client, "demo", username, DEMO_PASSWORD)
                    found.cookies[role] = cookie_of(client)
            await _seed(found, clients)
        finally:
            for client in clients.values():
                await client.aclose()
        yield found


async def _seed(site: Site, clients: dict[str, httpx.AsyncClient]) -> None:
    """Live items of every kind, so that real ids lead somewhere: an active,
    a pending, a scheduled, a kiosk's and an ended pass; two open requests."""
    teacher, student, kiosk = clients["teacher"], clients["student"], clients["kiosk"]
    rooms = {r["name"]: r["id"] for r in (await teacher.get("/api/rooms")).json()}
    site.rooms = list(rooms.values())
    staff_view = await teacher.get("/api/passes")
    assert staff_view.status_code == 200

    async def students() -> list[str]:
        ids = []
        for n in range(1, 11):
            async with httpx.AsyncClient(base_url=site.server.url) as client:
                ids.append((await login(client, "demo", f"student{n:02d}", DEMO_PASSWORD))["id"])
        return ids

    site.students = await students()

    async def made(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> str:
        answer = await client.post(path, json=body)
        assert answer.status_code == 201, answer.text
        made_id: str = answer.json()["id"]
        return made_id

    room = rooms.__getitem__
    active = await made(
        teacher,
        "/api/passes",
        {"origin": room("Room 102"), "destination": room("Restroom"), "student": site.students[0]},
    )
    pending = await made(
        student, "/api/passes", {"origin": room("Room 103"), "destination": room("Nurse")}
    )
    scheduled = await made(
        teacher,
        "/api/passes",
        {
            "origin": room("Room 104"),
            "destination": room("Library"),
            "student": site.students[2],
            "start_at": _in(hours=3),
        },
    )
    at_kiosk = await made(
        kiosk,
        "/api/passes",
        {
            "origin": room("Room 101"),
            "destination": room("Water Fountain"),
            "student_number": "100004",
        },
    )
    ended = await made(
        teacher,
        "/api/passes",
        {"origin": room("Room 105"), "destination": room("Library"), "student": site.students[6]},
    )
    assert (await teacher.post(f"/api/passes/{ended}/end")).status_code == 200
    site.passes = [active, pending, scheduled, at_kiosk, ended]
    site.requests = [
        await made(
            teacher, "/api/requests", {"student": site.students[4], "destination": room("Library")}
        ),
        await made(
            teacher,
            "/api/requests",
            {
                "student": site.students[5],
                "destination": room("Counselor"),
                "start_at": _in(hours=1),
            },
        ),
    ]


def _fuzz(
    operation: Any,
    mode: GenerationMode,
    headers: dict[str, str],
    examples: int,
    statuses: Counter[tuple[str, int]],
) -> None:
    """Fuzz one operation; `statuses` counts its answers by (label, status)."""
    session = requests.Session()

    @_settings(examples)
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case[Any]) -> None:
        response = case.call(headers=headers, session=session, allow_redirects=False)
        statuses[operation.label, response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    try:
        run()
    finally:
        session.close()


# --- sequences that follow the links ------------------------------------------------


def test_the_document_links_each_item_to_what_can_be_done_with_it(site: Site) -> None:
    document = requests.get(site.server.url + "/openapi.json", timeout=10).json()
    created = document["paths"]["/api/passes"]["post"]["responses"]["201"]["links"]
    on_a_pass = {
        method + " " + path
        for path, operations in document["paths"].items()
        if path.startswith("/api/passes/{id}")
        for method in operations
    }
    targets = {
        link["operationId"]
        for link in created.values()
        if link["parameters"] == {"path.id": "$response.body#/id"}
    }
    assert len(targets) == len(on_a_pass) >= 7
    accepted = document["paths"]["/api/requests/{id}/accept"]["post"]["responses"]["200"]["links"]
    assert accepted["post_api_passes_id_end_pass"]["parameters"] == {
        "path.id": "$response.body#/pass/id"
    }


@pytest.mark.parametrize("role", ["teacher", "student"])
def test_sequences_that_follow_the_links_stay_within_the_schema(site: Site, role: str) -> None:
    # No known ids for the paths: an item is reached only through a link
    # from an answer that showed it.
    schema = site.schema(role, known_items=False)
    assert schema.statistic.transitions.total > 50  # the document's links, and inferred ones
    headers = site.headers(role)
    session = requests.Session()
    reached: Counter[str] = Counter()

    class Sequences(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return {"headers": headers, "session": session, "allow_redirects": False}

        def validate_response(
            self, response: Any, case: schemathesis.Case[Any], **kwargs: Any
        ) -> None:
            if "{id}" in case.operation.path and 200 <= response.status_code < 300:
                reached[case.operation.label] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)

    settings = hypothesis.settings(
        _settings(STATEFUL_SCENARIOS), stateful_step_count=STATEFUL_STEPS
    )
    try:
        Sequences.run(settings=settings)
    finally:
        session.close()
    if role == "teacher":
        # Staff see every pass: a link from a list or a new pass leads to one.
        # (A student's lists take query filters the fuzzer rarely gets right.)
        assert reached, "no link led to an item that was there"


# --- every operation on its own ------------------------------------------------------


@pytest.mark.parametrize("role", list(ROLES))
def test_every_operation_answers_within_its_documented_schema(site: Site, role: str) -> None:
    schema = site.schema(role)
    may_call = _who_may_call()
    failures: list[str] = []
    statuses: Counter[tuple[str, int]] = Counter()
    fuzzed: set[str] = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = operation.label
        if label in NOT_HTTP or (role != "anonymous" and label in SIGNED_IN_SKIPS):
            continue
        fuzzed.add(label)
        allowed = may_call[label]
        examples = EXAMPLES[role] if not allowed or role in allowed else REFUSED_EXAMPLES
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and examples == REFUSED_EXAMPLES:
                continue
            try:
                _fuzz(operation, mode, site.headers(role), examples, statuses)
            except Unsatisfiable:
                # Negative data is impossible where every parameter is any string.
                if mode is GenerationMode.POSITIVE:
                    failures.append(f"{label}: no data could be generated")
            except (Exception, BaseExceptionGroup) as failure:  # collect, go on with the rest
                failures.append(f"{label} ({mode}) as {role}:\n{failure}")
    assert not failures, "\n\n".join(failures)
    # The run reached the server as `role`: every operation answered, the
    # signed-in got past the sign-in check, and refusals of each kind were met.
    assert fuzzed == {label for label, _ in statuses}, fuzzed - {label for label, _ in statuses}
    seen = Counter(status for _, status in statuses.elements())
    if role == "anonymous":
        assert seen[401] > 0, seen
    else:
        assert sum(n for status, n in seen.items() if 200 <= status < 300) > 10, seen
        assert seen[422] > 0 and seen[403 if role != "admin" else 404] > 0, seen


def _who_may_call() -> dict[str, tuple[str, ...]]:
    """Each operation's roles, from the table the server routes with (() is anyone)."""
    return {f"{e.method} {e.path}": e.roles for e in all_endpoints()}


def test_nothing_went_wrong_behind_the_answers(site: Site) -> None:
    """The runs above left no error in the server's log: no handler, hub or
    timed job (a pass scheduled for the year 9999, say) fell over."""
    output = site.server.output()
    assert "Traceback" not in output and "ERROR" not in output, output[-5000:]
