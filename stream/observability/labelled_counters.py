"""Counters per goal (and a small fixed set), written straight to exposition text at scrape time.

prometheus_client renders every sample through its generic path (label-name validation,
sorting, escaping and float formatting per sample, per scrape): about 5 µs a sample, so the
~20 counters of each of 200 goals cost a scrape ~25 ms. Their label values come from the goal
registry and fixed sets, so each series' line prefix is made once, and its line only again
after the value moved: a scrape joins strings. Only the counter API the pipeline uses is here:
``labels(...).inc(n)``.
"""

from __future__ import annotations

__all__ = ["CounterSeries", "LabelledCounter"]


def _label_value(value: str) -> str:
    """A label value escaped as the text format wants it (backslash, double quote, line feed)."""
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


class CounterSeries:
    """One series of a :class:`LabelledCounter`: its value and its sample line, kept until it moves."""

    __slots__ = ("_line", "prefix", "value")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.value = 0.0
        self._line: str | None = None

    def inc(self, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        self.value += amount
        self._line = None

    def line(self) -> str:
        if self._line is None:
            self._line = self.prefix + repr(float(self.value))
        return self._line


class LabelledCounter:
    """A counter family with named labels, e.g. ``ces_survey_prompts_total{goal, outcome}``.

    :param name: the sample name, with its ``_total`` suffix.
    """

    def __init__(self, name: str, documentation: str, label_names: list[str]) -> None:
        if not name.endswith("_total"):
            raise ValueError(f"a counter's name ends in _total: {name}")
        self.name = name
        self.label_names = tuple(label_names)
        help_text = documentation.replace("\\", r"\\").replace("\n", r"\n")
        self._header = f"# HELP {name} {help_text}\n# TYPE {name} counter\n"
        self._series: dict[tuple[str, ...], CounterSeries] = {}

    def labels(self, *values: str) -> CounterSeries:
        """The series of these label values (in the order of the label names), made at zero when new."""
        series = self._series.get(values)
        if series is None:
            if len(values) != len(self.label_names):
                raise ValueError(f"{self.name} takes the labels {self.label_names}, got {values}")
            pairs = ",".join(
                f'{name}="{_label_value(value)}"' for name, value in zip(self.label_names, values, strict=True)
            )
            series = self._series[values] = CounterSeries(f"{self.name}{{{pairs}}} ")
        return series

    def value(self, labels: dict[str, str]) -> float | None:
        """The value of the series with these labels, or None when there is no such series."""
        if set(labels) != set(self.label_names):
            return None
        series = self._series.get(tuple(labels[name] for name in self.label_names))
        return None if series is None else series.value

    def render(self) -> str:
        """The family's exposition text: help, type and one line per series."""
        if not self._series:
            return self._header
        return self._header + "\n".join([series.line() for series in self._series.values()]) + "\n"
