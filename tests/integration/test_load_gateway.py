"""The gateway's load test command (``python -m tests.load_gateway``) runs end to end on tiny numbers.

Not the measurement (docs/gateway.md "Performance" has that, from the full command): only that the
command opens its streams, posts at its rate, sees every prompt on its user's stream and reports
the figures it prints.
"""

from __future__ import annotations

import pytest

from tests.load_gateway import parse, run, verdict

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.mark.parametrize("batch", [1, 4])
def test_the_load_test_measures_every_prompt_of_a_small_run(kafka_bootstrap, batch):
    small = ["--streams", "20", "--rate", "4", "--duration", "3", "--warmup", "1", "--batch", str(batch)]
    args = parse([*small, "--bootstrap", kafka_bootstrap, "--partitions", "2"])
    figures = run(args)
    assert figures["streams_open"] == 20 and figures["stream_errors"] == 0
    assert figures["refused_tickets"] == 0 and figures["stream_urls_naming_a_user"] == 0
    assert figures["accepted"] >= 8 and figures["post_errors"] == 0 and figures["refused_records"] == 0
    assert figures["missing_prompts"] == 0 and figures["prompts_measured"] == figures["accepted"]
    assert set(figures["decision_to_stream_ms"]) == {"p50", "p90", "p99", "max"}
    assert figures["gateway_delivery_lag"]["count"] >= figures["prompts_measured"]
    assert figures["cpu_s_per_s"]["gateway"] > 0
    assert isinstance(verdict(figures), list)
