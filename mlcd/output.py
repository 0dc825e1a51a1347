"""The one module that knows where output goes: a terminal, or GitHub Actions.

On GitHub Actions (``GITHUB_ACTIONS=true``) messages become workflow commands (``::error file=…``),
steps are folded with ``::group::``, Markdown goes to ``$GITHUB_STEP_SUMMARY`` and outputs to
``$GITHUB_OUTPUT``. In a terminal, long steps show elapsed time. ``NO_COLOR`` turns colour off.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from mlcd.errors import Location

_COLOURS = {"red": "31", "yellow": "33", "green": "32", "bold": "1", "dim": "2"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


class Output:
    def __init__(
        self,
        stream: TextIO | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.env = env if env is not None else os.environ
        self.on_github = self.env.get("GITHUB_ACTIONS") == "true"
        is_tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interactive = is_tty and not self.on_github
        self.colour = is_tty and "NO_COLOR" not in self.env and self.env.get("TERM") != "dumb"

    def style(self, text: str, colour: str) -> str:
        return f"\033[{_COLOURS[colour]}m{text}\033[0m" if self.colour else text

    def _write(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def info(self, message: str) -> None:
        self._write(message)

    def success(self, message: str) -> None:
        self._write(self.style(message, "green"))

    def _annotate(self, kind: str, message: str, location: Location | None, title: str | None) -> None:
        props = []
        if location is not None:
            props.append(f"file={_escape_property(location.file)}")
            if location.line is not None:
                props.append(f"line={location.line}")
            if location.column is not None:
                props.append(f"col={location.column}")
        if title:
            props.append(f"title={_escape_property(title)}")
        head = f"::{kind} {','.join(props)}" if props else f"::{kind}"
        self._write(f"{head}::{_escape_data(message)}")

    def _problem(self, kind: str, colour: str, message: str, location: Location | None, title: str | None) -> None:
        if self.on_github:
            self._annotate(kind, message, location, title)
        else:
            where = f"{location}: " if location else ""
            self._write(self.style(f"{kind}: ", colour) + where + message)

    def error(self, message: str, location: Location | None = None, title: str | None = None) -> None:
        self._problem("error", "red", message, location, title)

    def warning(self, message: str, location: Location | None = None, title: str | None = None) -> None:
        self._problem("warning", "yellow", message, location, title)

    def notice(self, message: str, title: str | None = None) -> None:
        """Something the user should know that is not a problem (a ``::notice`` annotation on GitHub)."""
        self._problem("notice", "bold", message, None, title)

    @contextmanager
    def group(self, title: str, *, ticker: bool = False) -> Iterator[None]:
        """Fold a step's output on GitHub; in a terminal, show the step and how long it took.

        ``ticker`` shows elapsed time while a step that prints nothing of its own runs.
        """
        started = time.monotonic()
        if self.on_github:
            self._write(f"::group::{_escape_data(title)}")
            try:
                yield
            finally:
                self._write("::endgroup::")
            return
        self._write(self.style(f"▶ {title}", "bold"))
        live = _Ticker(self.stream, title) if ticker and self.interactive else None
        try:
            yield
        finally:
            if live is not None:
                live.stop()
            self._write(self.style(f"  {title}: {time.monotonic() - started:.1f}s", "dim"))

    def step_summary(self, markdown: str) -> Path | None:
        """Append Markdown to the job summary when running on GitHub; returns the file written."""
        target = self.env.get("GITHUB_STEP_SUMMARY")
        if not target:
            return None
        path = Path(target)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(markdown.rstrip("\n") + "\n\n")
        return path

    def set_output(self, name: str, value: str) -> None:
        """Declare a step output (``$GITHUB_OUTPUT``); multi-line values use a unique delimiter."""
        target = self.env.get("GITHUB_OUTPUT")
        if not target:
            return
        with Path(target).open("a", encoding="utf-8") as handle:
            if "\n" in value:
                delimiter = f"mlcd_{uuid.uuid4().hex}"
                handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
            else:
                handle.write(f"{name}={value}\n")


class _Ticker:
    """Shows elapsed seconds on one terminal line while a long step runs."""

    def __init__(self, stream: TextIO, title: str, interval: float = 1.0) -> None:
        self.stream = stream
        self.title = title
        self.interval = interval
        self.started = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            elapsed = time.monotonic() - self.started
            self.stream.write(f"\r  … {self.title} ({elapsed:.0f}s)\033[K")
            self.stream.flush()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
        self.stream.write("\r\033[K")
        self.stream.flush()


def write_result_file(path: Path, text: str, option: str) -> None:
    """Write a result file a command produces; a failure names the file and the option to change."""
    from mlcd.errors import InputError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}",
                         fix=f"pass a writable path to {option}") from None


_default: Output | None = None


def get_output() -> Output:
    global _default
    if _default is None:
        _default = Output()
    return _default
