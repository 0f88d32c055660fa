"""Fakes that let a test drive a pipeline stage with no broker and no Faust worker.

A stage is built on a :class:`FakeApp` (it records the agent, timers and signal receivers
the stage registers; its tables are :class:`FakeTable` dicts), is fed :class:`FakeEvent`
objects shaped like Faust's (``event.message.topic/partition/offset/timestamp/key/value``)
and queues its output in a :class:`RecordingSender`, which records per topic what would
be sent and writes table puts straight into the fake tables.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from stream.pipeline.stage_types import Output, Record, StageEvent


@dataclass(frozen=True)
class FakeMessage:
    """A consumed record: the attributes of ``faust.types.Message`` the stages read."""

    topic: str
    partition: int
    offset: int
    timestamp: float
    key: bytes | None
    value: bytes | None


@dataclass
class FakeEvent:
    message: FakeMessage
    acked: bool = False

    def ack(self) -> bool:
        self.acked = True
        return True


class FakeTable(dict[bytes, bytes]):
    """A Faust table as the stages use it: a dict of bytes; ``raw_table`` sets its serializers."""

    key_serializer: str | None = None
    value_serializer: str | None = None

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    @property
    def data(self) -> SimpleNamespace:
        """The store, shaped as Faust's memory store: its ``data`` is the dict of stored records."""
        return SimpleNamespace(data=self)


@dataclass(frozen=True)
class Sent:
    key: bytes | None
    value: bytes | None
    partition: int | None


class RecordingSender:
    """Records what a stage would send, per topic, in order; a put writes the fake table at once."""

    def __init__(self) -> None:
        self.sent: dict[str, list[Sent]] = defaultdict(list)
        self.puts: list[tuple[str, int, bytes, bytes | None]] = []

    def add(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        self.sent[topic].append(Sent(key, value, partition))

    def put(self, table: Any, partition: int, key: bytes, value: bytes | None) -> None:
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
        self.puts.append((table.name, partition, key, value))

    def topics(self) -> set[str]:
        return {topic for topic, records in self.sent.items() if records}


class FakeSignal:
    def __init__(self) -> None:
        self.receivers: list[Callable[..., Any]] = []

    def connect(self, receiver: Callable[..., Any]) -> Callable[..., Any]:
        self.receivers.append(receiver)
        return receiver


class FakeConsumer:
    def __init__(self, assigned: set[TP]) -> None:
        self.assigned = assigned

    def assignment(self) -> set[TP]:
        return self.assigned


@dataclass
class FakeApp:
    """The parts of ``faust.App`` a stage touches when it is built and when it decides."""

    assigned: set[TP] = field(default_factory=set)
    rebalancing: bool = False
    consumer_generation_id: int = 0

    def __post_init__(self) -> None:
        self.consumer = FakeConsumer(self.assigned)
        self.agents: dict[str, Callable[..., Any]] = {}
        self.timers: dict[str, Callable[..., Any]] = {}
        self.tables: dict[str, FakeTable] = {}
        self.on_partitions_revoked = FakeSignal()
        self.on_partitions_assigned = FakeSignal()
        self.on_rebalance_complete = FakeSignal()
        self.on_before_shutdown = FakeSignal()

    def agent(self, channel: Any, *, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(fun: Callable[..., Any]) -> Callable[..., Any]:
            self.agents[name] = fun
            return fun

        return register

    def timer(self, interval: float, *, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(fun: Callable[..., Any]) -> Callable[..., Any]:
            self.timers[name] = fun
            return fun

        return register

    def Table(self, name: str, **kwargs: Any) -> FakeTable:
        table = self.tables[name] = FakeTable(name)
        return table


@dataclass(frozen=True)
class FakeTopic:
    name: str

    def get_topic_name(self) -> str:
        return self.name


def stand_in(fake: object) -> Any:
    """``fake`` where a stage is typed with Faust's own class (the app, a topic) or one it does not use here."""
    return fake


def event(
    topic: str, partition: int, offset: int, timestamp: float, key: bytes | None, value: bytes | None
) -> FakeEvent:
    return FakeEvent(FakeMessage(topic, partition, offset, timestamp, key, value))


# The fakes fit the Protocols the stages are typed with (checked by mypy where this module is).
_record: Record = FakeMessage("t", 0, 0, 0.0, None, None)
_event: StageEvent = FakeEvent(FakeMessage("t", 0, 0, 0.0, None, None))
_output: Output = RecordingSender()
