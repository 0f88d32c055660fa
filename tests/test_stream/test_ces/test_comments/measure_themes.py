"""How long comment themes take for 100 000 comments: one goal, and the same spread over 200 goals.

Not a test (pytest does not collect it): it prints the figures of docs/product-teams.md. The comments are
constructed months of :mod:`tests.test_stream.test_ces.test_comments.theme_month`, each month a different
seed (so typos and wording differ), all with their own three themes and noise.

    .venv/bin/python -m tests.test_stream.test_ces.test_comments.measure_themes
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import UTC, datetime

import numpy as np
import scipy
import sklearn

from stream.ces.comments.themes import ThemeComment, find_themes
from tests.test_stream.test_ces.test_comments.theme_month import planted_month

START = datetime(2025, 3, 1, tzinfo=UTC)


def comments(total: int) -> list[ThemeComment]:
    """``total`` comments from as many constructed months as it takes, one seed each."""
    out: list[ThemeComment] = []
    seed = 0
    while len(out) < total:
        out.extend(planted.comment for planted in planted_month(START, seed=seed))
        seed += 1
    return out[:total]


def timed(groups: list[list[ThemeComment]]) -> tuple[float, int]:
    """Seconds to find the themes of every group, and how many themes they hold together."""
    began = time.perf_counter()
    found = sum(len(find_themes(group).themes) for group in groups)
    return time.perf_counter() - began, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comments", type=int, default=100_000)
    parser.add_argument("--goals", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest is printed")
    args = parser.parse_args()
    pool = comments(args.comments)
    spread = [pool[goal :: args.goals] for goal in range(args.goals)]
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"scikit-learn {sklearn.__version__}, {platform.machine()}"
    )
    for name, groups in ((f"1 goal, {args.comments} comments", [pool]), (f"{args.goals} goals", spread)):
        runs = [timed(groups) for _ in range(args.repeat)]
        seconds, found = min(runs)
        print(f"{name}: {seconds:.1f} s (fastest of {args.repeat}), {found} themes")


if __name__ == "__main__":
    main()
