"""stop_the_worker: the process exits non-zero even when the app's shutdown never ends."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from stream.pipeline.stage_helpers import EX_SOFTWARE
from tests.paths import PROJECT_ROOT

pytestmark = pytest.mark.external  # runs a worker-like subprocess

SCRIPT = textwrap.dedent("""
    import asyncio, logging
    from stream.pipeline import stage_helpers

    stage_helpers.STOP_GRACE_S = 0.5
    logging.basicConfig(level=logging.INFO)

    class HangingApp:
        async def crash(self, exc):
            await asyncio.Future()  # a shutdown that waits for a stage that will never ack

    async def main():
        await stage_helpers.stop_the_worker(HangingApp(), RuntimeError("broken stage"))

    asyncio.run(main())
""")


def test_a_shutdown_that_hangs_ends_in_a_hard_exit_with_ex_software():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == EX_SOFTWARE
    assert "did not stop within 0.5 s of RuntimeError('broken stage'); exiting now" in result.stderr
