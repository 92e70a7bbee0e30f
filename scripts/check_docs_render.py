#!/usr/bin/env python3
"""Load every page of the built docs in headless Chromium and fail on what a reader would see.

A page fails when, at 1280 px, a code block or a table is wider than the space it is given
(the reader has to scroll sideways to read it), the page itself scrolls sideways, or a link
to another page, an anchor or a file of the site leads nowhere.

Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON
messages separated by NUL bytes on file descriptors 3 and 4), so nothing beyond the standard
library and Debian's `chromium` package is needed, and no browser is downloaded.

Usage: `scripts/check_docs_render.py` (builds the site from mkdocs.yml first), or
`scripts/check_docs_render.py --site DIR` for a site already built. Exit status 0: every page
fits; 1: problems, listed one a line; 2: Chromium or the site could not be started.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
WIDTH = 1280
HEIGHT = 900
PAGE_TIMEOUT = 30.0
TABS = 3
"""Pages loaded at once: each tab has its own renderer process."""
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
]

# Runs in each page once it has loaded. Collapsed <details> and hidden tabs are opened first
# so that the code inside them is measured too; a block wider than its box by more than one
# pixel (rounding) is an overflow.
MEASURE = r"""
(async () => {
  await document.fonts.ready;
  document.querySelectorAll("details").forEach((d) => { d.open = true; });
  const style = document.createElement("style");
  style.textContent = ".tabbed-set > .tabbed-content > .tabbed-block"
    + " { display: block !important; }";
  document.head.appendChild(style);
  const wide = (el) => el.scrollWidth > el.clientWidth + 1;
  const longest = (text) => text.split("\n").reduce((a, b) => (b.length > a.length ? b : a), "");
  const heading = (el) => {
    let node = el;
    while (node) {
      let prev = node.previousElementSibling;
      while (prev) {
        if (/^H[1-6]$/.test(prev.tagName)) return prev.textContent.replace("¶", "").trim();
        prev = prev.previousElementSibling;
      }
      node = node.parentElement;
      if (!node || node.classList.contains("md-content__inner")) break;
    }
    return "";
  };
  const problems = [];
  const article = document.querySelector(".md-content__inner") || document.body;
  const right = article.getBoundingClientRect().right;
  for (const pre of article.querySelectorAll("pre")) {
    const code = pre.querySelector(":scope > code") || pre;
    if (wide(pre) || wide(code)) {
      problems.push({kind: "code block", where: heading(pre),
                     width: code.scrollWidth, room: code.clientWidth,
                     text: longest(code.textContent).trim()});
    }
  }
  for (const table of article.querySelectorAll("table")) {
    const box = table.closest(".md-typeset__scrollwrap") || table.parentElement;
    const over = wide(box) || table.getBoundingClientRect().right > right + 1;
    if (over) {
      const head = table.querySelector("tr");
      problems.push({kind: "table", where: heading(table),
                     width: Math.round(table.getBoundingClientRect().width),
                     room: box.clientWidth,
                     text: head ? head.textContent.replace(/\s+/g, " ").trim() : ""});
    }
  }
  const page = document.documentElement;
  if (page.scrollWidth > window.innerWidth + 1) {
    problems.push({kind: "page", where: "", width: page.scrollWidth, room: window.innerWidth,
                   text: "the page scrolls sideways"});
  }
  const links = [...document.querySelectorAll("a[href]")].map((a) => a.href);
  const ids = [...document.querySelectorAll("[id]")].map((el) => el.id);
  const names = [...document.querySelectorAll("a[name]")].map((el) => el.name);
  return {problems, links, ids: ids.concat(names), width: window.innerWidth};
})()
"""


@dataclass(frozen=True)
class Problem:
    """One thing on one page that a reader would trip on."""

    page: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.page}: {self.kind}: {self.detail}"


class ChromiumError(RuntimeError):
    """Chromium did not start, answer or load a page in time."""


def _high_fd(fd: int) -> int:
    """A copy of `fd` numbered 10 or above, so that moving it to 3 or 4 cannot clobber another."""
    copy = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return copy


class Chromium:
    """Headless Chromium spoken to over `--remote-debugging-pipe`."""

    def __init__(self, binary: str, width: int = WIDTH, height: int = HEIGHT) -> None:
        self.binary = binary
        self.width = width
        self.height = height
        self._profile = tempfile.TemporaryDirectory(prefix="refreshsts-chromium-")
        self._process: subprocess.Popen[bytes] | None = None
        self._send_fd = -1
        self._next_id = 0
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._events: dict[str, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None

    def start(self) -> Chromium:
        to_child_r, to_child_w = (_high_fd(fd) for fd in os.pipe())
        from_child_r, from_child_w = (_high_fd(fd) for fd in os.pipe())

        def wire_pipes() -> None:
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        command = [
            self.binary,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={self._profile.name}",
            f"--window-size={self.width},{self.height}",
            "about:blank",
        ]
        self._process = subprocess.Popen(  # noqa: S603 - a fixed binary and fixed flags
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=wire_pipes,  # noqa: PLW1509 - only dup2, before the reader thread exists
            start_new_session=True,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._send_fd = to_child_w
        self._reader = threading.Thread(target=self._read, args=(from_child_r,), daemon=True)
        self._reader.start()
        self.call("Browser.getVersion")
        return self

    def open_tab(self) -> Tab:
        """A new tab of `width` x `height` CSS pixels, with page events turned on."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        with self._lock:
            self._events[session] = queue.Queue()
        tab = Tab(self, session)
        tab.call("Page.enable")
        tab.call(
            "Emulation.setDeviceMetricsOverride",
            width=self.width,
            height=self.height,
            deviceScaleFactor=1,
            mobile=False,
        )
        return tab

    def _read(self, fd: int) -> None:
        buffer = b""
        with os.fdopen(fd, "rb", buffering=0) as pipe:
            while True:
                chunk = pipe.read(65536)
                if not chunk:
                    break
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                for raw in messages:
                    message = json.loads(raw)
                    waiter = self._replies.get(message.get("id", -1))
                    events = self._events.get(message.get("sessionId", ""))
                    if waiter is not None:
                        waiter.put(message)
                    elif events is not None:
                        events.put(message)
        for waiter in list(self._replies.values()):
            waiter.put({"error": {"message": "chromium closed the pipe"}})

    def call(
        self, method: str, *, session: str = "", timeout: float = PAGE_TIMEOUT, **params: Any
    ) -> dict[str, Any]:
        """Send one command (to a tab's `session`, else to the browser); wait for its reply."""
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            waiter: queue.Queue[dict[str, Any]] = queue.Queue()
            self._replies[ident] = waiter
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        data = memoryview(json.dumps(message).encode() + b"\0")
        with self._lock:
            while data:
                data = data[os.write(self._send_fd, data) :]
        try:
            reply = waiter.get(timeout=timeout)
        except queue.Empty:
            raise ChromiumError(
                f"{method}: no answer from chromium within {timeout:.0f} s"
            ) from None
        finally:
            self._replies.pop(ident, None)
        if "error" in reply:
            raise ChromiumError(f"{method}: {reply['error'].get('message')}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(ChromiumError, OSError):
                self.call("Browser.close", timeout=5)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        if self._send_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._send_fd)
            self._send_fd = -1
        if self._reader is not None:
            self._reader.join(timeout=5)
        self._profile.cleanup()

    def __enter__(self) -> Chromium:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class Tab:
    """One page of the browser; calls go to its DevTools session."""

    def __init__(self, browser: Chromium, session: str) -> None:
        self._browser = browser
        self._session = session
        self._events = browser._events[session]

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        return self._browser.call(method, session=self._session, **params)

    def load(self, url: str) -> dict[str, Any]:
        """Navigate to `url`, wait for its load event, and run MEASURE in it."""
        while not self._events.empty():
            self._events.get_nowait()
        navigated = self.call("Page.navigate", url=url)
        if navigated.get("errorText"):
            raise ChromiumError(f"{url}: {navigated['errorText']}")
        deadline = time.monotonic() + PAGE_TIMEOUT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChromiumError(f"{url}: no load event within {PAGE_TIMEOUT:.0f} s")
            try:
                event = self._events.get(timeout=left)
            except queue.Empty:
                continue
            if event.get("method") == "Page.loadEventFired":
                break
        evaluated = self.call(
            "Runtime.evaluate",
            expression=MEASURE,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in evaluated:
            raise ChromiumError(f"{url}: {evaluated['exceptionDetails'].get('text')}")
        value: dict[str, Any] = evaluated["result"]["value"]
        return value


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log on stderr."""


@contextlib.contextmanager
def serve(site: Path) -> Iterator[str]:
    """Serve `site` on a free 127.0.0.1 port for the duration of the block; yield its URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def build_site(config: Path, destination: Path) -> None:
    """`mkdocs build --strict` of `config` into `destination`."""
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    done = subprocess.run(  # noqa: S603 - this interpreter running mkdocs
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", str(config),
         "-d", str(destination)],
        capture_output=True, text=True, env=env, check=False, cwd=config.parent,
    )  # fmt: skip
    if done.returncode != 0:
        raise ChromiumError(f"mkdocs build failed:\n{done.stdout}{done.stderr}")


def pages_of(site: Path) -> list[str]:
    """Site-relative URLs of every HTML page except the 404 page."""
    pages = []
    for path in sorted(site.rglob("*.html")):
        relative = path.relative_to(site).as_posix()
        if relative == "404.html":
            continue
        pages.append(
            relative[: -len("index.html")] if relative.endswith("index.html") else relative
        )
    return pages


def _exists(url: str, cache: dict[str, bool]) -> bool:
    if url not in cache:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
                cache[url] = response.status == 200
        except (urllib.error.URLError, OSError):
            cache[url] = False
    return cache[url]


def _load_all(browser: Chromium, base: str, pages: list[str]) -> dict[str, dict[str, Any]]:
    """Load and measure `pages` in TABS tabs at once; page -> what MEASURE found."""
    todo: queue.SimpleQueue[str] = queue.SimpleQueue()
    for page in pages:
        todo.put(page)
    found: dict[str, dict[str, Any]] = {}

    def work(tab: Tab) -> None:
        while True:
            try:
                page = todo.get_nowait()
            except queue.Empty:
                return
            found[page] = tab.load(base + page)

    tabs = [browser.open_tab() for _ in range(max(1, min(TABS, len(pages))))]
    with ThreadPoolExecutor(len(tabs)) as pool:
        for done in [pool.submit(work, tab) for tab in tabs]:
            done.result()
    return found


def check_site(
    site: Path, chromium: str = CHROMIUM, width: int = WIDTH
) -> tuple[int, list[Problem]]:
    """Load every page of `site` at `width` px; return the page count and what is wrong."""
    problems: list[Problem] = []
    seen_ids: dict[str, set[str]] = {}
    links: dict[str, set[str]] = {}
    pages = pages_of(site)
    with serve(site) as base, Chromium(chromium, width=width) as browser:
        loaded = _load_all(browser, base, pages)
        for page in pages:
            url = base + page
            found = loaded[page]
            name = page or "index"
            if found["width"] != width:
                raise ChromiumError(f"the window is {found['width']} px wide, not {width}")
            for item in found["problems"]:
                text = item["text"]
                shown = text if len(text) <= 90 else text[:87] + "..."
                where = f" under {item['where']!r}" if item["where"] else ""
                problems.append(
                    Problem(
                        name,
                        f"{item['kind']} wider than its box{where}",
                        f"{item['width']} px in {item['room']} px: {shown}",
                    )
                )
            seen_ids[url] = set(found["ids"])
            links[name] = set(found["links"])
        exists: dict[str, bool] = {}
        for name, hrefs in links.items():
            for href in sorted(hrefs):
                if not href.startswith(base):
                    continue
                target, fragment = urldefrag(href)
                if target in seen_ids:
                    if fragment and fragment not in seen_ids[target]:
                        problems.append(Problem(name, "broken anchor", href[len(base) - 1 :]))
                    continue
                if not _exists(target, exists):
                    problems.append(Problem(name, "broken link", href[len(base) - 1 :]))
    return len(pages), problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, help="a built site (default: build mkdocs.yml)")
    parser.add_argument("--config", type=Path, default=ROOT / "mkdocs.yml")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", CHROMIUM))
    parser.add_argument("--width", type=int, default=WIDTH)
    args = parser.parse_args(argv)
    if not shutil.which(args.chromium):
        print(
            f"chromium not found at {args.chromium}: apt-get install chromium (or --chromium PATH)",
            file=sys.stderr,
        )
        return 2
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="refreshsts-site-") as scratch:
            site = args.site
            if site is None:
                site = Path(scratch)
                build_site(args.config.resolve(), site)
            count, problems = check_site(site, args.chromium, args.width)
    except ChromiumError as error:
        print(f"docs render check could not run: {error}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    elapsed = time.monotonic() - started
    verdict = f"{len(problems)} problem(s)" if problems else "every page fits, every link lands"
    print(f"{count} pages at {args.width} px in {elapsed:.0f} s: {verdict}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
