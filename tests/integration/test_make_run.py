"""`ces-stream run` (what `make run` starts): figures appear, Ctrl-C stops everything it started.

The run uses the session's broker (already running, so the run must leave it running) with
its own app id and topics. Every process the run starts inherits its environment, so a scan
of /proc for that app id finds any process left behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from stream.infra.local_services import free_port
from tests.harness import wait_until, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]


def processes_with(marker: str) -> list[str]:
    """Command lines of the live processes whose environment holds ``marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue  # gone, or not ours to read
    return found


def test_run_shows_figures_and_ctrl_c_leaves_no_process_behind(kafka_bootstrap, tmp_path):
    app_id = f"t{uuid.uuid4().hex[:10]}"
    port = free_port()
    env = {
        **os.environ,
        **worker_env(kafka_bootstrap, app_id, 4),
        "CES_WEB_PORT": str(port),
        "CES_GOALS_FILE": str(ROOT / "deploy" / "goals.yaml"),
    }
    out = open(tmp_path / "run.out", "wb")  # noqa: SIM115 (the process's log: open as long as the process runs)
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stream.tools.cli",
            "run",
            "--workdir",
            str(tmp_path / "run"),
            "--rate",
            "30",
            "--refresh",
            "1",
        ],
        env=env,
        cwd=tmp_path,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:

        def answered_goals() -> int:
            import urllib.request

            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/goals", timeout=5) as response:
                    figures = json.loads(response.read())
            except OSError:
                return 0
            return sum(1 for windows in figures.values() if any(w.get("answers") for w in windows.values()))

        wait_until(
            lambda: answered_goals() >= 3,
            timeout_s=240,
            interval_s=1,
            what="answers counted for the simulated goals",
            describe=lambda: (tmp_path / "run.out").read_text(errors="replace")[-3000:],
        )
        assert run.poll() is None
        run.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert run.wait(90) == 0
    finally:
        if run.poll() is None:
            run.kill()  # its children get SIGTERM from the kernel (PR_SET_PDEATHSIG)
        out.close()
    text = (tmp_path / "run.out").read_text(errors="replace")
    assert "stopped everything" in text
    wait_until(
        lambda: not processes_with(f"CES_APP_ID={app_id}"),
        timeout_s=30,
        what="no process left",
        describe=lambda: processes_with(f"CES_APP_ID={app_id}"),
    )
    assert (tmp_path / "run" / "worker.log").stat().st_size > 0
    simulator = (tmp_path / "run" / "simulator.log").read_text()
    assert "sent" in simulator  # the simulator's summary: stopped cleanly
    # A tenth of the users went through the gateway, whose URL the view shows.
    through = re.search(
        r"^gateway +(\d+) records of 10% of the users POSTed: (\d+) accepted, 0 refused", simulator, re.M
    )
    assert through is not None and int(through.group(2)) == int(through.group(1)) > 0, simulator[-2000:]
    assert re.search(r"gateway http://127\.0\.0\.1:\d+\s+\(10% of the users\)", text)  # the view may wrap
