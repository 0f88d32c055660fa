"""Two reads of Faust's settings on every fetched record, made once.

Faust's settings object records every attribute read (``Settings.__getattribute__``) and
serves each through a descriptor: about 1.6 µs a read. The conductor reads two on every
record it hands to a stream: ``producer_threaded`` (in ``ProducerBuffer.size``, which
``wait_until_ebb`` checks per record) and ``Event`` (in ``App.create_event``). On the answer
path that is two reads per record on each topic an answer crosses, about 2.5 % of the
worker's samples in a py-spy profile (docs/performance.md). Neither setting can change
once the app is running, so :func:`install_settings_reads_once` reads each once per object.
"""

from __future__ import annotations

from typing import Any


def install_settings_reads_once() -> None:
    """``ProducerBuffer.size`` and ``App.create_event`` read their setting once per buffer and app (idempotent)."""
    from faust.app.base import App
    from faust.transport.producer import ProducerBuffer

    # checked: faust-streaming 0.15.3 (ProducerBuffer.size is a property reading
    # app.conf.producer_threaded, then the length of queue._queue or pending._queue;
    # App.create_event returns self.conf.Event(self, key, value, headers, message))
    size = ProducerBuffer.__dict__["size"]
    original_size = getattr(size.fget, "__wrapped__", size.fget)

    def buffered(self: Any) -> int:
        threaded = self.__dict__.get("_ces_producer_threaded")
        if threaded is None:
            threaded = self.__dict__["_ces_producer_threaded"] = bool(self.app.conf.producer_threaded)
        if threaded:
            return original_size(self)  # the rare threaded producer: as before
        return len(self.pending._queue)

    buffered.__wrapped__ = original_size  # type: ignore[attr-defined]
    ProducerBuffer.size = property(buffered)  # type: ignore[method-assign,assignment]  # the patch

    create = App.create_event
    original_create = getattr(create, "__wrapped__", create)

    def create_event(self: Any, key: Any, value: Any, headers: Any, message: Any) -> Any:
        event_class = self.__dict__.get("_ces_event_class")
        if event_class is None:
            event_class = self.__dict__["_ces_event_class"] = self.conf.Event
        return event_class(self, key, value, headers, message)

    create_event.__wrapped__ = original_create  # type: ignore[attr-defined]
    App.create_event = create_event  # type: ignore[method-assign]  # the patch
