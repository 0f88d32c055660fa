"""Headless Chromium for tests of the HTML ces-stream serves or writes: the DOM after scripts ran, screenshots.

Chromium runs from its command line (no playwright or selenium), with its own profile
under the test's tmp_path and in its own process group, so a timeout kills its helper
processes too. ``fields_by_goal`` reads back what the page and the report mark with
``data-goal`` and ``data-field`` attributes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
VOID_ELEMENTS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def chromium_or_skip() -> str:
    """The Chromium binary, or skip the test when there is none."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("needs Chromium (headless) on the PATH")


def _run(args: list[str], profile: Path, timeout_s: float) -> str:
    binary = chromium_or_skip()
    command = [
        binary,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        *args,
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"chromium took over {timeout_s:.0f} s: {' '.join(command)}") from None
    finally:
        with contextlib.suppress(ProcessLookupError):  # helpers (zygote, renderer) that outlive the browser
            os.killpg(proc.pid, signal.SIGKILL)
    if proc.returncode != 0:
        raise AssertionError(f"chromium exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}")
    return out.decode()


def dump_dom(url: str, tmp_path: Path, *, budget_ms: int = 8000, timeout_s: float = 60.0) -> str:
    """The page's DOM after its scripts ran (``--virtual-time-budget``), as HTML text."""
    return _run([f"--virtual-time-budget={budget_ms}", "--dump-dom", url], tmp_path / "chromium-profile", timeout_s)


def screenshot(
    url: str, path: Path, tmp_path: Path, *, size: str = "1280,1600", budget_ms: int = 8000, timeout_s: float = 60.0
) -> Path:
    """A PNG of the page after its scripts ran; returns ``path``."""
    _run(
        [f"--virtual-time-budget={budget_ms}", f"--screenshot={path}", f"--window-size={size}", url],
        tmp_path / "chromium-profile",
        timeout_s,
    )
    assert path.exists() and path.stat().st_size > 0, f"no screenshot at {path}"
    return path


class _FieldReader(HTMLParser):
    """Collects, per element with ``data-goal``, the text of each element inside it with ``data-field``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str]]] = []
        self._open: list[tuple[str, dict[str, str] | None, str | None]] = []  # (tag, goal fields, field name)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID_ELEMENTS:
            return
        values = dict(attrs)
        fields = None
        if values.get("data-goal") is not None:
            fields = {"data-status": values["data-status"] or ""} if "data-status" in values else {}
            self.found.append((values["data-goal"] or "", fields))
        self._open.append((tag, fields, values.get("data-field")))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass  # self-closing: no text inside

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][0] == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        goal_fields = next((fields for _, fields, _ in reversed(self._open) if fields is not None), None)
        if goal_fields is None:
            return
        for _, _, name in self._open:
            if name:
                goal_fields[name] = " ".join((goal_fields.get(name, "") + " " + data).split())


def fields_by_goal(html: str) -> list[tuple[str, dict[str, str]]]:
    """Every ``data-goal`` element in document order as ``(goal, {field: text})``.

    The goal element's own ``data-status``, if any, comes as the field ``data-status``.
    """
    reader = _FieldReader()
    reader.feed(html)
    reader.close()
    return reader.found
