"""One headless Chromium tab a test can click in: the DevTools protocol over a pipe, no extra package.

``tests.browser`` dumps a page's DOM after its scripts ran; a page that fetches on a click (the themes of the
CES page) needs the click. Chromium with ``--remote-debugging-pipe`` reads protocol commands (JSON, each ending
in a NUL byte) on its file descriptor 3 and answers on 4. The tab runs in real time: a test waits for what it
needs with :meth:`ChromiumPage.wait_for`, a condition the page polls itself, never a sleep.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.browser import chromium_or_skip

# Polls a condition in the page until it holds (its value) or the time is up (null).
WAIT_JS = """new Promise((resolve) => {
  const until = Date.now() + %d;
  const poll = () => {
    let value = null;
    try { value = (%s); } catch (error) { value = null; }
    if (value) resolve(value instanceof Node ? true : value);  // an element: found (it does not serialise)
    else if (Date.now() > until) resolve(null);
    else setTimeout(poll, 50);
  };
  poll();
})"""
# The text of every data-field element under a selector, spaces collapsed: {field: text}.
FIELDS_JS = """Object.fromEntries([...document.querySelectorAll(%s)].map(
  (element) => [element.dataset.field, element.textContent.replace(/\\s+/g, " ").trim()]))"""


class ChromiumPage:
    """A headless Chromium with one tab, driven over the DevTools protocol on a pipe."""

    def __init__(self, tmp_path: Path, timeout_s: float = 30.0) -> None:
        binary = chromium_or_skip()
        self.timeout_s = timeout_s
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def protocol_fds() -> None:  # in the child, before exec: the pipe ends as fds 3 and 4
            read_end, write_end = os.dup(to_browser_read), os.dup(from_browser_write)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.proc = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                f"--user-data-dir={tmp_path / 'chromium-session-profile'}",
                "--window-size=1280,1600",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,  # Python's own descriptors are not inheritable (PEP 446): only 3 and 4 pass
            preexec_fn=protocol_fds,
            start_new_session=True,  # its own process group: close() ends its helpers too
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self.requests: list[tuple[str, str]] = []
        """(method, URL) of every request the tab sent since :meth:`watch_requests` (read as commands run)."""
        self._session: str | None = None
        target = self._command("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self._command("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def _command(self, method: str, params: dict[str, Any] | None = None, timeout_s: float | None = None) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self._session is not None and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("method") == "Network.requestWillBeSent":  # after watch_requests()
                    request = answer["params"]["request"]
                    self.requests.append((request["method"], request["url"]))
                if answer.get("id") == self._next_id:  # events and other answers are not waited for
                    if "error" in answer:
                        raise AssertionError(f"chromium: {method} failed: {answer['error']}")
                    return answer["result"]
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise AssertionError(f"chromium did not answer {method} within {timeout_s or self.timeout_s:.0f} s")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 16)
                if not chunk:
                    raise AssertionError(f"chromium closed its pipe while asked {method}")
                self._buffer += chunk

    def evaluate(self, expression: str, timeout_s: float | None = None) -> Any:
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        result = self._command(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            timeout_s=timeout_s,
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"in the page: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, condition: str, *, timeout_s: float = 30.0, what: str = "condition") -> Any:
        """The value of the JavaScript ``condition`` once it is truthy; the page polls it every 50 ms."""
        value = self.evaluate(WAIT_JS % (int(timeout_s * 1000), condition), timeout_s=timeout_s + 10)
        if not value:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what} in the page")
        return value

    def watch_requests(self) -> None:
        """Record every request the tab sends from now on in :attr:`requests` (EventSource and fetch included)."""
        self._command("Network.enable")

    def open(self, url: str) -> None:
        """Load ``url`` and wait until its document is loaded."""
        self._command("Page.navigate", {"url": url})
        self.wait_for('document.readyState === "complete" && location.href !== "about:blank"', what=f"{url} loaded")

    def click(self, selector: str) -> None:
        """Click the element ``selector`` picks (it must exist)."""
        found = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (e) e.click(); return !!e; }})()"
        )
        assert found, f"nothing to click at {selector}"

    def fields(self, selector: str) -> dict[str, str]:
        """``{data-field: text}`` of the data-field elements ``selector`` picks."""
        return self.evaluate(FIELDS_JS % json.dumps(selector))

    def html(self) -> str:
        return self.evaluate("document.documentElement.outerHTML")

    def screenshot(self, path: Path) -> Path:
        import base64

        data = self._command("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        with contextlib.suppress(AssertionError, OSError):
            self._command("Browser.close", timeout_s=5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError):  # helpers (zygote, renderer) that outlive the browser
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        for fd in (self._to_browser, self._from_browser):
            with contextlib.suppress(OSError):
                os.close(fd)


@contextlib.contextmanager
def chromium_page(tmp_path: Path, timeout_s: float = 30.0) -> Iterator[ChromiumPage]:
    """A :class:`ChromiumPage`, closed (with its helper processes) when the block ends."""
    page = ChromiumPage(tmp_path, timeout_s)
    try:
        yield page
    finally:
        page.close()
