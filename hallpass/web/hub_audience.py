"""Who is connected to one school's hub, indexed by what decides what each
may see (hallpass.service.visibility), so that a change finds its receivers
without asking every client: staff see everything, a student their own, a
kiosk the passes from or to its room."""

from __future__ import annotations

from hallpass.projections.records import PassRecord, RequestRecord
from hallpass.rules.commands import STAFF
from hallpass.web.hub_client import Client

Receivers = tuple[set[Client] | None, ...]


class Audience:
    def __init__(self) -> None:
        self.everyone: set[Client] = set()
        self._staff: set[Client] = set()
        self._students: dict[str, set[Client]] = {}
        self._kiosks: dict[str, set[Client]] = {}

    def __len__(self) -> int:
        return len(self.everyone)

    def add(self, client: Client) -> None:
        self.everyone.add(client)
        actor = client.actor
        if actor.role in STAFF:
            self._staff.add(client)
        elif actor.role == "student":
            self._students.setdefault(actor.id, set()).add(client)
        elif actor.role == "kiosk" and actor.room is not None:
            self._kiosks.setdefault(actor.room, set()).add(client)

    def remove(self, client: Client) -> None:
        self.everyone.discard(client)
        self._staff.discard(client)
        actor = client.actor
        for index, key in ((self._students, actor.id), (self._kiosks, actor.room)):
            clients = index.get(key) if key is not None else None
            if clients is not None:
                clients.discard(client)
                if not clients:
                    del index[key]  # type: ignore[arg-type]

    def of_pass(self, record: PassRecord) -> Receivers:
        """The sets whose union is everyone who may see the pass. Its origin
        and destination differ, so no client is in two of them."""
        kiosks = self._kiosks
        return (
            self._staff,
            self._students.get(record.student),
            kiosks.get(record.origin),
            kiosks.get(record.destination),
        )

    def of_request(self, record: RequestRecord) -> Receivers:
        return (self._staff, self._students.get(record.student))

    def of(self, record: PassRecord | RequestRecord) -> set[Client]:
        """The receivers of a change of `record`, as one set."""
        sets = self.of_pass(record) if isinstance(record, PassRecord) else self.of_request(record)
        return {client for clients in sets if clients for client in clients}
