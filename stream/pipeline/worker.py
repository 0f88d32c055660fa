"""Runs the Faust worker for one process: loads the goal registry, builds the pipeline, blocks."""

from __future__ import annotations

import gc
import logging

from stream.settings import DEV_PSEUDONYM_KEY, Settings

log = logging.getLogger(__name__)

GC_ALLOCATIONS_BETWEEN_COLLECTIONS = 20_000


def run_worker(settings: Settings, loglevel: str = "info") -> int:
    """Start the worker; returns its exit code when it stops (SIGTERM/SIGINT)."""
    from mode.loop import use as use_event_loop

    # uvloop's event loop costs less per callback; Faust schedules several per event.
    use_event_loop("uvloop")
    import faust

    from stream.ces.registry import load_registry
    from stream.infra.topics import create_topics
    from stream.observability.log_limits import limit_repeats
    from stream.pipeline.app import Pipeline
    from stream.pipeline.faust_internals import (
        bound_signal_stops,
        install_batched_changelog_reading,
        install_eager_dispatch,
        install_fetch_limits,
        install_reconnect_backoff,
        install_settings_reads_once,
        install_table_manager_start_without_wait,
        unverified_versions,
    )
    from stream.pipeline.stop_deadline import StopDeadline

    registry = load_registry(settings.goals_file)  # an invalid registry refuses to start, naming the problem
    for problem in unverified_versions():
        log.warning(
            "%s: the hot path uses Faust internals that may have changed; install the tested set "
            "(pip install -c constraints.txt ...) or run the whole test suite on this version",
            problem,
        )
    if settings.pseudonym_key.get_secret_value() == DEV_PSEUDONYM_KEY:
        log.warning("CES_PSEUDONYM_KEY is the development default: set a secret key in production")
    # Every Kafka client of the worker waits between attempts to reach a broker that does not answer.
    install_reconnect_backoff(max_s=settings.kafka_reconnect_backoff_max_seconds)
    install_fetch_limits(settings.kafka_fetch_min_bytes, settings.kafka_fetch_max_wait_ms)
    # A fetched record reaches its stream without four asyncio tasks when it need not wait.
    install_eager_dispatch()
    # The conductor's two settings reads per record are made once (about 1.6 µs each).
    install_settings_reads_once()
    # A start replays the tables' changelogs in runs of records, without Faust's per-record bookkeeping.
    install_batched_changelog_reading()
    # Every table is declared before the app starts: no second of waiting for late ones.
    install_table_manager_start_without_wait()
    # Internal topics must exist before Faust subscribes, or a first start never gets their partitions.
    create_topics(settings)
    pipeline = Pipeline(settings, registry)

    class Worker(faust.Worker):
        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            super().on_setup_root_logger(logger, level)
            if settings.log_repeat_seconds > 0:  # a broker outage would otherwise write thousands of lines
                limit_repeats(logger, settings.log_repeat_seconds)

    worker = Worker(pipeline.app, loglevel=loglevel, quiet=True)
    # Faust's terminal spinner turns the root logger to DEBUG below INFO: every debug
    # line of every library would then be formatted, per message.
    worker.spinner = None
    # SIGTERM/SIGINT: a graceful stop, or an exit with code 75 after CES_SHUTDOWN_TIMEOUT_SECONDS.
    bound_signal_stops(worker, StopDeadline(settings.shutdown_timeout_seconds))
    # Everything built so far lives as long as the process: keep it out of the collector's
    # full scans, which otherwise pause the loop for tens of milliseconds every few seconds.
    gc.collect()
    gc.freeze()
    # Each record allocates many short-lived objects that reference counting frees; the default
    # 700 allocations between collections made the collector scan every few records (about 5 %
    # of the worker's CPU on a backlog, measured with gc.callbacks in docs/performance.md).
    gc.set_threshold(GC_ALLOCATIONS_BETWEEN_COLLECTIONS)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
