"""A real browser for the page tests: Debian's headless Chromium, driven over the DevTools protocol.

Chromium speaks the protocol on a pipe (``--remote-debugging-pipe``: it reads
commands on fd 3 and writes replies and events on fd 4, each a JSON message ended
by a NUL byte), so the tests need nothing but the standard library: no
WebDriver, no Node, no websocket client, no network port. What the tests use:

* :meth:`Browser.open` loads a page and waits for its ``load`` event;
* :meth:`Browser.eval` runs JavaScript in it (clicks, typing, reading the DOM);
* :attr:`Browser.errors` collects what a person would see in the console as an
  error: uncaught exceptions, ``console.error``, resources that failed to load and
  Content-Security-Policy violations;
* :attr:`Browser.dialogs` records any ``alert()`` a page tried to open (one
  shown to the instructor is an injected script that ran);
* :meth:`Browser.screenshot` writes a PNG.

Which browser: :data:`CHROMIUM` (``chromium-headless-shell`` or ``chromium``,
Debian's packages; ``apt-get install chromium-headless-shell``). :func:`require_browser`
skips a test where none is installed, and fails it under ``CI=true`` (``.ci/run``
installs one) or ``GRADER_REQUIRE_BROWSER=1``: a browser test that silently stopped
running would hide a broken page.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

NAMES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
CHROMIUM = next((shutil.which(n) for n in NAMES if shutil.which(n)), None)


def require_browser() -> str:
    """The browser's path; skips (or, under CI=true / GRADER_REQUIRE_BROWSER=1, fails) the test without one."""
    import pytest

    if CHROMIUM is None:
        reason = "no headless browser installed (apt-get install chromium-headless-shell)"
        if os.environ.get("GRADER_REQUIRE_BROWSER") == "1" or os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"{reason}, and this run promises one (CI=true or GRADER_REQUIRE_BROWSER=1)", pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


class BrowserError(Exception):
    pass


class Browser:
    """One headless Chromium with one page; a context manager (the browser is closed on exit)."""

    def __init__(self, binary: str | None = None, width: int = 1400, height: int = 1000, timeout: float = 30.0) -> None:
        binary = binary or CHROMIUM
        if binary is None:
            raise BrowserError("no Chromium installed")
        self.timeout = timeout
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self._profile = tempfile.mkdtemp(prefix="grader-browser-")
        to_browser, self._to = os.pipe()
        self._from, from_browser = os.pipe()

        def fds() -> None:          # in the child, before exec: the pipes become fds 3 and 4
            os.dup2(to_browser, 3)
            os.dup2(from_browser, 4)

        self.process = subprocess.Popen(
            [binary, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
             "--disable-extensions", "--mute-audio", f"--user-data-dir={self._profile}",
             f"--window-size={width},{height}", "about:blank"],
            pass_fds=(3, 4), preexec_fn=fds, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._id = 0
        self._events: list[dict[str, Any]] = []
        self._replies: dict[int, dict[str, Any]] = {}
        self._session = ""
        try:
            target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
            self._session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                self.call(f"{domain}.enable")
            self.call("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        except BaseException:
            self.close()
            raise

    # -- the protocol -----------------------------------------------------------------
    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from], [], [], max(0.0, left))
            if not ready:
                raise BrowserError("the browser did not answer in time")
            chunk = os.read(self._from, 1 << 16)
            if not chunk:
                raise BrowserError("the browser went away")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        data = json.loads(message)
        if "method" in data:
            self._event(data)
        return data

    def _event(self, event: dict[str, Any]) -> None:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            self.errors.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append("console.error: " + " ".join(str(a.get("value", a.get("description", "")))
                                                            for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
        elif method == "Page.javascriptDialogOpening":     # the page waits until it is answered
            self.dialogs.append(params.get("message", ""))
            self._post("Page.handleJavaScriptDialog", {"accept": True}, self._session)
        self._events.append(event)

    def _post(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to, json.dumps(message).encode() + b"\0")
        return self._id

    def _send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        wanted, deadline = self._post(method, params, session), time.monotonic() + self.timeout
        while wanted not in self._replies:
            reply = self._read(deadline)
            if "id" in reply:
                self._replies[reply["id"]] = reply
        reply = self._replies.pop(wanted)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._send(method, params, self._session)

    # -- what the tests use ---------------------------------------------------------------
    def open(self, url: str) -> None:
        """Load ``url`` and wait for its load event (errors and dialogs are collected meanwhile)."""
        self._events.clear()
        result = self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            self.errors.append(f"navigation: {result['errorText']} {url}")
            return
        if not result.get("loaderId"):       # the same document (another #fragment): no load event comes
            return
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self._events):
            self._read(deadline)

    def eval(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (an exception in it is a BrowserError)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True, "userGesture": True})
        if "exceptionDetails" in result:
            d = result["exceptionDetails"]
            raise BrowserError(d.get("exception", {}).get("description") or d.get("text"))
        return result.get("result", {}).get("value")

    def screenshot(self, path: Path, full_height: bool = False) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_height:
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", params)["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def close(self) -> None:
        try:
            if self.process.poll() is None:
                try:
                    self._send("Browser.close")
                except (BrowserError, OSError):
                    pass
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(10)
        finally:
            for fd in (self._to, self._from):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
