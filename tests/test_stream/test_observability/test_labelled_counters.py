"""Tests for stream.observability.labelled_counters: the text of per-goal counters, read back by Prometheus' parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from stream.observability.labelled_counters import LabelledCounter


def parsed(counter: LabelledCounter) -> dict[tuple[tuple[str, str], ...], float]:
    (family,) = text_string_to_metric_families(counter.render())
    assert family.type == "counter"
    return {tuple(sorted(sample.labels.items())): sample.value for sample in family.samples}


def test_series_start_at_zero_and_add_up():
    counter = LabelledCounter("ces_x_total", "Things.", ["goal", "reason"])
    counter.labels("a", "r1")
    counter.labels("b", "r1").inc()
    counter.labels("b", "r1").inc(2)
    assert parsed(counter) == {(("goal", "a"), ("reason", "r1")): 0.0, (("goal", "b"), ("reason", "r1")): 3.0}


def test_label_values_are_escaped():
    counter = LabelledCounter("ces_x_total", "Things.", ["goal"])
    counter.labels('say "hi"\\\n').inc()
    assert parsed(counter) == {(("goal", 'say "hi"\\\n'),): 1.0}


def test_a_family_without_series_still_parses():
    counter = LabelledCounter("ces_x_total", "Help with a\nline feed.", ["goal"])
    (family,) = text_string_to_metric_families(counter.render())
    assert family.samples == []


def test_the_value_of_a_series_by_its_labels():
    counter = LabelledCounter("ces_x_total", "Things.", ["goal", "reason"])
    counter.labels("a", "r1").inc(4)
    assert counter.value({"reason": "r1", "goal": "a"}) == 4.0
    assert counter.value({"goal": "a", "reason": "r2"}) is None
    assert counter.value({"goal": "a"}) is None
