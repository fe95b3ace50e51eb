"""Reading Prometheus's text format in tests: `Samples.parse(text)` and
`samples.value("hallpass_commands_total", command="CreatePass")`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

# A safety net so a broken server fails the test instead of hanging it; no
# test asserts on how long anything takes.
PATIENCE = 20.0


class Samples:
    def __init__(self, values: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> None:
        self.values = values

    @classmethod
    def parse(cls, text: str) -> Samples:
        values: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                values[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return cls(values)

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when the process has not recorded it (yet)."""
        return self.values.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str, **labels: str) -> bool:
        return (name, frozenset(labels.items())) in self.values

    def names(self) -> set[str]:
        return {name for name, _ in self.values}


async def scrape(client: httpx.AsyncClient, path: str = "/metrics") -> Samples:
    answer = await client.get(path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return Samples.parse(answer.text)


async def scrape_until(
    client: httpx.AsyncClient, ready: Callable[[Samples], bool], path: str = "/metrics"
) -> Samples:
    """Scrape again and again until `ready` holds (PATIENCE at most)."""
    deadline = time.monotonic() + PATIENCE
    while True:
        samples = await scrape(client, path)
        if ready(samples):
            return samples
        assert time.monotonic() < deadline, "the metrics never showed what was expected"
        await asyncio.sleep(0.05)


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + PATIENCE
    while not await check():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.05)
