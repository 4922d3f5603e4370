"""A small driver for Debian's headless Chromium over the DevTools protocol (no downloaded browser).

It records what a page did — console errors, uncaught exceptions, and every request — and blocks
any request that would leave 127.0.0.1, so a test can assert that the site works offline.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.sync.client import connect

from pipeline import processes

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--hide-scrollbars",
    # Belt and braces: nothing but loopback even resolves.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@dataclass
class PageLog:
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # requests that would have left the machine
    failed: list[str] = field(default_factory=list)  # local requests that failed (404, aborted)


class Chromium:
    """One headless Chromium with one tab; use as a context manager."""

    def __init__(self, width: int = 1280, height: int = 900) -> None:
        self.width, self.height = width, height
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []
        self._replies: dict[int, dict[str, Any]] = {}
        self._unanswered: set[int] = set()
        self.log = PageLog()

    def __enter__(self) -> Chromium:
        if not Path(CHROMIUM).exists():
            raise RuntimeError(
                f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), "
                "which ./run setup does"
            )
        self._profile = tempfile.mkdtemp(prefix="reports-chromium-")
        self._process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self._profile}", "--remote-debugging-port=0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        endpoint = self._devtools_endpoint()
        self._ws = connect(endpoint, max_size=None, open_timeout=30)
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.send(f"{domain}.enable")
        self.send("Fetch.enable", {"patterns": [{"urlPattern": "*"}]})
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
        )
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._ws.close()
        finally:
            processes.stop(self._process, grace_s=10)
            shutil.rmtree(self._profile, ignore_errors=True)

    def _devtools_endpoint(self) -> str:
        assert self._process.stderr is not None
        deadline = time.monotonic() + 30
        lines = []
        while time.monotonic() < deadline:
            line = self._process.stderr.readline()
            if not line and self._process.poll() is not None:
                break
            lines.append(line)
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            if found:
                return found.group(1)
        raise RuntimeError("Chromium did not start:\n" + "".join(lines[-20:]))

    # -- protocol -------------------------------------------------------------------------
    def _post(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._ws.send(json.dumps(message))
        return message_id

    def _call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        message_id = self._post(method, params, session)
        deadline = time.monotonic() + 60
        while message_id not in self._replies:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{method}: no reply from Chromium within 60 s")
            self._dispatch(json.loads(self._ws.recv(timeout=left)))
        reply = self._replies.pop(message_id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" not in message:
            self._handle(message)
        elif message["id"] in self._unanswered:
            self._unanswered.discard(message["id"])
        else:
            self._replies[message["id"]] = message

    def send(self, method: str, params: dict | None = None) -> dict:
        return self._call(method, params, self._session)

    def _send_nowait(self, method: str, params: dict) -> None:
        # Handling an event must not wait for a reply: the events in between would be lost.
        self._unanswered.add(self._post(method, params, self._session))

    def _handle(self, event: dict[str, Any]) -> None:
        method, params = event.get("method"), event.get("params", {})
        if method == "Fetch.requestPaused":
            url = params["request"]["url"]
            self.log.requests.append(url)
            if urlsplit(url).scheme in ("http", "https", "ws", "wss") and (
                urlsplit(url).hostname not in LOCAL_HOSTS
            ):
                self.log.blocked.append(url)
                self.send(
                    "Fetch.failRequest",
                    {"requestId": params["requestId"], "errorReason": "BlockedByClient"},
                )
            else:
                self._send_nowait("Fetch.continueRequest", {"requestId": params["requestId"]})
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.log.console_errors.append(
                " ".join(
                    str(arg.get("value", arg.get("description", ""))) for arg in params["args"]
                )
            )
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.log.exceptions.append(
                details.get("exception", {}).get("description") or details.get("text", "")
            )
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.log.console_errors.append(
                f"{params['entry'].get('url', '')}: {params['entry']['text']}"
            )
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            self.log.failed.append(params.get("errorText", ""))
        elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
            self.log.failed.append(f"{params['response']['status']} {params['response']['url']}")
        self._events.append(event)

    def pump(self, seconds: float) -> None:
        """Handle events for a while (requests are paused until handled)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self._dispatch(json.loads(self._ws.recv(timeout=left)))
            except TimeoutError:
                return

    # -- page -----------------------------------------------------------------------------
    def open(self, url: str, timeout: float = 30) -> None:
        """Navigate and wait for the load event, then for the network to go quiet. The page
        before is left first, so that its late events (a prefetch from a server a test has
        stopped since) land in its own log, not in this page's."""
        self.send("Page.navigate", {"url": "about:blank"})
        self.settle(quiet=0.3)
        self.log = PageLog()
        self._events.clear()
        self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self._events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load within {timeout} s")
            self.pump(0.2)
        self.settle()

    def settle(self, quiet: float = 1.0, timeout: float = 30) -> None:
        """Wait until no request or console event arrived for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = len(self._events)
            self.pump(quiet)
            if len(self._events) == seen:
                return

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20) -> Any:
        """Poll a JavaScript expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {timeout} s: {expression}")
            self.pump(0.25)

    def text(self) -> str:
        return self.evaluate("document.body.innerText")

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page (not only the viewport)."""
        height = self.evaluate("Math.ceil(document.documentElement.scrollHeight)")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {
                "width": self.width,
                "height": max(height, self.height),
                "deviceScaleFactor": 1,
                "mobile": False,
            },
        )
        self.settle(0.5)
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
        )
        path.write_bytes(base64.b64decode(data))
        return path
