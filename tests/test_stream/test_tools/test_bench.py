"""The bench's pure parts: the population, the options, the table (no broker)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from stream.tools.bench.command import DEFAULT_PHASES, PHASES, options_from, options_line, table
from stream.tools.bench.phases import Figure, latency_percentiles
from stream.tools.bench.population import PopulationSpec, describe, plan_events
from stream.tools.bench.worker import BenchError
from stream.tools.cli import build_parser

BENCH = Path(__file__).resolve().parents[3] / "stream" / "tools" / "bench"


def test_most_events_come_from_users_without_state_and_a_few_goals_are_busy() -> None:
    events = plan_events(PopulationSpec(users=1_000_000, zipf=0.8, goals=200), 20_000)
    figures = describe(events)
    assert figures.events == 20_000
    assert figures.first_seen_share > 0.5
    assert figures.distinct_users < 20_000  # some users come back
    assert 0.1 < figures.busiest_goal_share < 0.3  # busy goals and many quiet ones
    assert plan_events(PopulationSpec(users=1000, zipf=0.8, goals=5), 100) == plan_events(
        PopulationSpec(users=1000, zipf=0.8, goals=5), 100
    )


def test_a_higher_exponent_repeats_more() -> None:
    low = describe(plan_events(PopulationSpec(zipf=0.5), 5000)).first_seen_share
    high = describe(plan_events(PopulationSpec(zipf=1.2), 5000)).first_seen_share
    assert high < low


def test_options_choose_phases_in_their_order() -> None:
    args = build_parser().parse_args(["bench", "--phases", "start,prompt", "--peer", "--sampled", "0.25"])
    options = options_from(args)
    assert options.phases == ("prompt", "peer", "start")
    assert options.sampled == 0.25
    assert "--peer" in options_line(options) and "--sampled 0.25" in options_line(options)
    assert options_from(build_parser().parse_args(["bench"])).phases == DEFAULT_PHASES
    with pytest.raises(BenchError):
        options_from(build_parser().parse_args(["bench", "--phases", "nope"]))
    assert set(DEFAULT_PHASES) < set(PHASES)


def test_the_table_puts_each_rate_next_to_the_ceiling() -> None:
    ceiling = Figure("ceiling", "bare", 1000, 0.01, 0.01)
    answer = Figure("answer", "answers", 1000, 1.0, 0.5)
    peer = Figure("peer", "quix", 1000, 0.5, 0.5)
    start = Figure("start", "restart", 1, 3.0, 2.0, {"ready_s": 2.5}, a_rate=False)
    text = table([ceiling, answer, peer, start])
    assert "| answer | answers | 1,000 | 1.00 | 0.50 | 1,000 | 2,000 | 1.0% |" in text
    assert "| start | restart | 1 | 3.00 | 2.00 |  |  |  | ready_s 2.5 |" in text
    assert "answer path / Quix peer: 0.50x per second, 1.00x per CPU-second" in text
    assert latency_percentiles([0.001 * i for i in range(1, 101)])["p99_ms"] == 100.0


def test_nothing_but_the_launcher_names_the_peer_and_the_peer_imports_no_ces_stream() -> None:
    peer = ast.parse((BENCH / "peer_quix.py").read_text())
    imported = {n.module for n in ast.walk(peer) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(peer) if isinstance(n, ast.Import) for a in n.names
    }
    assert not any(name and name.startswith("stream") for name in imported)
    for path in (BENCH.parent.parent).rglob("*.py"):
        if path.name != "peer_quix.py":
            assert "import peer_quix" not in path.read_text() and "bench.peer_quix" not in path.read_text(), path


def test_a_scrape_line_is_read_without_the_prometheus_parser() -> None:
    from stream.tools.bench.worker import counter_sum, gauge_sum, parse_sample

    samples = [
        parse_sample('ces_survey_answers_total{goal="g",sentiment="positive"} 3.0'),
        parse_sample('ces_events_invalid_total{topic="t.survey-answers",reason="unknown_prompt"} 2.0'),
        parse_sample('ces_events_invalid_total{topic="t.goal-events",reason="bad_json"} 5.0'),
        parse_sample('ces_goal_answers{goal="g",window="28d"} 3.0'),
        parse_sample('ces_goal_answers{goal="g",window="1h"} 1.0'),
    ]
    assert counter_sum(samples, "ces_survey_answers") == 3.0
    assert counter_sum(samples, "ces_events_invalid", topic="t.survey-answers") == 2.0
    assert gauge_sum(samples, "ces_goal_answers", window="28d") == 3.0
