"""install_settings_reads_once: the producer buffer's size and the events Faust creates stay as they were."""

from __future__ import annotations

import faust
import pytest
from faust.app.base import App
from faust.events import Event
from faust.transport.producer import ProducerBuffer
from faust.types import TP

from stream.pipeline.faust_internals import install_settings_reads_once


@pytest.fixture
def installed():
    size, create = ProducerBuffer.__dict__["size"], App.create_event
    install_settings_reads_once()
    install_settings_reads_once()  # idempotent: wraps the originals, not its own patch
    yield
    ProducerBuffer.size = size  # type: ignore[method-assign]
    App.create_event = create  # type: ignore[method-assign]


def make_app(**options):
    return faust.App("settings-reads-test", broker="kafka://127.0.0.1:9", autodiscover=False, **options)


def test_the_patches_wrap_faust_once(installed):
    assert ProducerBuffer.__dict__["size"].fget.__wrapped__.__qualname__ == "ProducerBuffer.size"
    assert App.create_event.__wrapped__.__qualname__ == "App.create_event"


async def test_the_buffer_size_counts_what_waits_to_be_sent(installed):
    buffer = make_app().producer.buffer
    assert buffer.size == 0
    for n in range(3):
        buffer.pending.put_nowait(n)
    assert buffer.size == 3
    buffer.max_messages = 2
    flushed = []

    async def flush_atmost(n: int) -> int:
        flushed.append(n)
        return 0

    buffer.flush_atmost = flush_atmost
    await buffer.wait_until_ebb()  # over the limit: flushes, as Faust does
    buffer.max_messages = 3
    await buffer.wait_until_ebb()  # at the limit: does not
    assert flushed == [2]


def test_a_threaded_producer_counts_its_own_queue(installed):
    app = make_app(producer_threaded=True)
    assert app.producer.buffer.size == 0  # no queue yet: Faust's own answer


def test_events_are_of_the_apps_event_class(installed):
    class Custom(Event):
        pass

    message = faust.types.Message("t", 0, 5, 0.0, 0, None, b"k", b"v", None, tp=TP("t", 0))
    for app, expected in ((make_app(), Event), (make_app(Event=Custom), Custom)):
        event = app.create_event(b"k", b"v", {}, message)
        assert type(event) is expected
        assert (event.key, event.value, event.message, event.app) == (b"k", b"v", message, app)
