"""How often a theme is called *rising* when nothing rises: constructed months whose comments fall at random times.

Not a test (pytest does not collect it): it prints the figure of docs/product-teams.md. Each month has the
three planted themes of :mod:`tests.test_stream.test_ces.test_comments.theme_month` and its noise, every
comment at a uniformly random moment of the month (so each theme's share of each half varies as chance has
it, and nothing grows), a different seed per month. The themes are found with the month split at its middle,
as the report splits a period; a month counts as a false alarm when any of its themes is flagged rising.

    .venv/bin/python -m tests.test_stream.test_ces.test_comments.measure_false_rising --months 500
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime, timedelta

from stream.ces.comments.themes import ThemeComment, find_themes
from tests.test_stream.test_ces.test_comments.theme_month import NEGATIVE, NOISE, NOISE_NEGATIVE_EVERY, SIZES, _sentence

START = datetime(2025, 3, 1, tzinfo=UTC)
DAYS = 30


def month_without_a_rise(seed: int) -> list[ThemeComment]:
    """The planted themes and the noise, each comment at a random moment of the month."""
    rng = random.Random(seed)

    def at() -> datetime:
        return START + timedelta(seconds=rng.randrange(DAYS * 86_400))

    comments = []
    for theme, size in SIZES.items():
        for index in range(size):
            language = "en" if index % 2 else "nl"
            comments.append(ThemeComment(_sentence(theme, language, rng), language, index < NEGATIVE[theme], at()))
    comments.extend(
        ThemeComment(text, locale, index % NOISE_NEGATIVE_EVERY == 0, at())
        for index, (locale, text) in enumerate(NOISE)
    )
    return comments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=500)
    args = parser.parse_args()
    middle = START + timedelta(days=DAYS / 2)
    alarms = themes = flagged = 0
    for seed in range(args.months):
        found = find_themes(month_without_a_rise(seed), middle).themes
        rising = sum(theme.rise.rising for theme in found)
        themes += len(found)
        flagged += rising
        alarms += rising > 0
    print(
        f"{args.months} months without a rise: {alarms} with a theme flagged rising "
        f"({alarms / args.months:.2%} of months; the stated level is 1 % per goal); "
        f"{flagged} of {themes} themes flagged ({flagged / max(themes, 1):.2%})"
    )


if __name__ == "__main__":
    main()
