"""``ces-stream bench``: what one worker does with what operators run, next to the raw ceiling.

Modules: ``command`` (options, the run, the table), ``population`` (users and goals),
``phases`` (each measurement), ``worker`` (the worker subprocess and its CPU time), ``peer``
(launches the Quix Streams peer) and ``peer_quix`` (the peer itself: a script run in an
interpreter with Quix Streams, imported by nothing here).
"""

from stream.tools.bench.command import BenchOptions, add_arguments, run, run_bench

__all__ = ["BenchOptions", "add_arguments", "run", "run_bench"]
