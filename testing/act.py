"""Run a real workflow file with act on this machine (``-P ubuntu-latest=-self-hosted``).

Every reusable workflow and action a workflow uses is resolved locally: mlcd's own
(``mlcd-dev/mlcd/.github/workflows/*@SHA``, ``mlcd-dev/mlcd/actions/*@SHA``) from a worktree of a release
made for real (testing/release.py) checked out at exactly that SHA, and what those use in turn, the same
way; every other pinned action from its stand-in in ``action_standins/``. A pin of a commit the release
does not have, or an action with no stand-in, fails the run before it starts, naming the pin.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from mlcd.release import DEFAULT_REPOSITORY
from testing.release import ReleasedMlcd

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "tests" / ".cache" / "act-logs"
STANDINS = ROOT / "tests" / "e2e" / "action_standins"
USES = re.compile(r"^\s*(?:-\s*)?uses:\s*([\w.-]+/[\w.-]+)(/[\w./-]+)?@([\w.-]+)", re.MULTILINE)
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ActRun:
    returncode: int
    output: str
    seconds: float
    log: Path

    def job_lines(self, job: str) -> list[str]:
        """The lines of the job with this display name (act prefixes them `[workflow/job   ]`)."""
        pattern = re.compile(rf"^\[[^\]]*/{re.escape(job)}\s*\]")
        return [line for line in self.output.splitlines() if pattern.match(line)]

    def summaries(self, job: str) -> list[str]:
        """The job summaries the job's steps wrote (act prints each after its step: `⚙  Summary - …`; a
        composite action's twice, after its inner step and after the action, kept once here)."""
        found: list[str] = []
        current: list[str] | None = None
        head = re.compile(rf"^\[[^\]]*/{re.escape(job)}\s*\]\s+⚙  Summary - (.*)$")
        for line in self.output.splitlines():
            started = head.match(line)
            if started:
                current = [started.group(1)]
                found.append("")
            elif current is not None and not line.startswith("["):
                current.append(line)
            else:
                current = None
            if current is not None:
                found[-1] = "\n".join(current)
        return [text for i, text in enumerate(found) if i == 0 or text != found[i - 1]]

    def step_seconds(self) -> dict[str, float]:
        """Wall time of each `✅ Success - Main …` / `❌ Failure - Main …` step, keyed `job: step`."""
        times: dict[str, float] = {}
        pattern = re.compile(r"^\[[^/\]]+/([^\]]+)\]\s+(?:✅  Success|❌  Failure) - Main (.+?) \[([^\]]+)\]$")
        for line in self.output.splitlines():
            found = pattern.match(line)
            if found:
                job, step, duration = found.groups()
                key = f"{job.strip()}: {step}"
                times[key] = times.get(key, 0.0) + go_duration(duration)
        return times


def go_duration(text: str) -> float:
    """Seconds in a Go duration as act prints it: ``1m2.5s``, ``350.2ms``, ``12µs``."""
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9}
    return sum(float(value) * scale[unit] for value, unit in re.findall(r"([\d.]+)(ms|µs|us|ns|h|m|s)", text))


def pinned_uses(file: Path) -> set[tuple[str, str, str]]:
    """(owner/name, path in it or "", ref) of every remote action or reusable workflow the file uses."""
    found = USES.findall(file.read_text(encoding="utf-8"))
    return {(repository, path.lstrip("/"), ref) for repository, path, ref in found}


def called_workflow(workflow: Path, mlcd: ReleasedMlcd) -> Path:
    """The reusable workflow of mlcd's that ``workflow`` (a caller `mlcd init` writes) calls, at the SHA it pins."""
    [(path, ref)] = [(path, ref) for repository, path, ref in pinned_uses(workflow)
                     if repository == DEFAULT_REPOSITORY and path.startswith(".github/workflows/")]
    return mlcd.worktree(ref) / path


def job_permissions(workflow: Path, job: str, mlcd: ReleasedMlcd) -> dict[str, str]:
    """The permissions a job's GITHUB_TOKEN gets (for the GitHub stand-in's token): ``job`` of the reusable
    workflow of mlcd's that the caller ``workflow`` calls."""
    jobs = yaml.safe_load(called_workflow(workflow, mlcd).read_text(encoding="utf-8"))["jobs"]
    granted = jobs[job].get("permissions") or {}
    return {scope: str(level) for scope, level in granted.items()}


def host_env() -> dict[str, str]:
    """This machine's environment for the runner, minus this test run's virtualenv and any GitHub context."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "RUNNER_", "ACT", "VIRTUAL_ENV", "PYTEST", "MLCD_"))}
    venv_bin = str(Path(sys.executable).parent)
    path = [p for p in env.get("PATH", SYSTEM_PATH).split(os.pathsep) if p and p != venv_bin]
    env["PATH"] = os.pathsep.join(path)
    env["ACT_DISABLE_VERSION_CHECK"] = "1"
    env["NO_COLOR"] = "1"
    return env


class Act:
    def __init__(self, *, binary: Path, mlcd: ReleasedMlcd, repositories: Path, cache: Path, work: Path) -> None:
        self.binary = binary
        self.mlcd = mlcd
        self.repositories = repositories
        self.cache = cache
        self.work = work
        self.runs = 0

    def mappings(self, workflow: Path) -> list[str]:
        """``--local-repository`` for every pin reachable from ``workflow``: mlcd's at exactly their SHA."""
        mapped: dict[str, Path] = {}
        pending = [workflow]
        while pending:
            file = pending.pop()
            for repository, path, ref in sorted(pinned_uses(file)):
                if repository == DEFAULT_REPOSITORY:
                    try:
                        tree = self.mlcd.worktree(ref)
                    except ValueError as exc:
                        raise AssertionError(f"{file.name} uses {repository}/{path}@{ref}: {exc}") from None
                    used = tree / path if path.endswith((".yml", ".yaml")) else tree / path / "action.yml"
                    if not used.is_file():
                        raise AssertionError(f"{file.name} uses {repository}/{path}@{ref}, which that commit lacks")
                    pending.append(used)
                elif (STANDINS / repository).is_dir():
                    tree = STANDINS / repository
                else:
                    raise AssertionError(f"{file.name} uses {repository}@{ref}, which has no stand-in in {STANDINS}")
                mapped.setdefault(f"{repository}@{ref}", tree)
        return [argument for key, tree in sorted(mapped.items())
                for argument in ("--local-repository", f"{key}={tree}")]

    def next_run_id(self) -> str:
        """GITHUB_RUN_ID of the next run (act's default, 1, would make every run share cache keys)."""
        return f"{os.getpid()}{self.runs + 1:03d}"

    def run(self, event_name: str, event: Mapping[str, Any], project: Path, workflow: Path, *,
            env: Mapping[str, str] = {}, secrets: Mapping[str, str] = {}, variables: Mapping[str, str] = {},
            platforms: Mapping[str, str] = {}, timeout: float = 1500,
            progress: Callable[[str], None] | None = None) -> ActRun:
        run_id = self.next_run_id()
        self.runs += 1
        run_dir = self.work / f"run-{self.runs}"
        run_dir.mkdir(parents=True)
        event_file = run_dir / "event.json"
        event_file.write_text(json.dumps(event), encoding="utf-8")
        command = [str(self.binary), event_name, "-W", str(workflow), "-e", str(event_file), "-C", str(project),
                   "-P", "ubuntu-latest=-self-hosted", "--no-cache-server", "--no-skip-checkout",
                   "--action-cache-path", str(run_dir / "act"), *self.mappings(workflow),
                   "--env", f"ACT_STANDIN_REPOSITORIES={self.repositories}", "--env", f"ACT_STANDIN_CACHE={self.cache}",
                   "--env", f"GITHUB_RUN_ID={run_id}"]
        for label, platform in platforms.items():  # e.g. {"gpu": "-self-hosted"}: a runner label → this host
            command += ["-P", f"{label}={platform}"]
        for name, value in env.items():
            command += ["--env", f"{name}={value}"]
        for name, value in secrets.items():
            command += ["-s", f"{name}={value}"]
        for name, value in variables.items():
            command += ["--var", f"{name}={value}"]
        log = run_dir / "act.log"
        started = time.monotonic()
        with log.open("w", encoding="utf-8") as handle, log.open(encoding="utf-8", errors="replace") as reader:
            process = subprocess.Popen(command, cwd=project, env=host_env(), stdout=handle, stderr=subprocess.STDOUT)
            returncode = _wait(process, reader, started + timeout, progress)
        seconds = time.monotonic() - started
        LOGS.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, LOGS / f"{event_name}-{run_id}.log")  # kept after pytest rotates its temp dirs
        return ActRun(returncode, log.read_text(encoding="utf-8", errors="replace"), seconds, log)


def _wait(process: subprocess.Popen[bytes], reader: TextIO, deadline: float,
          progress: Callable[[str], None] | None) -> int:
    """Wait for act, handing each progress line of its log to ``progress`` as it is written."""
    pending = ""
    while True:
        try:
            returncode = process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise
            returncode = None
        pending += reader.read()
        *lines, pending = pending.split("\n")
        for line in lines:
            shown = progress_line(line) if progress else None
            if shown and progress:
                progress(shown)
        if returncode is not None:
            return returncode


STEP_RESULT = re.compile(r"^\[[^/\]]+/([^\]]+?)\s*\]\s+(✅  Success|❌  Failure) - Main (.+?)(?: \[([^\]]+)\])?$")
JOB_EVENT = re.compile(r"^\[[^/\]]+/([^\]]+?)\s*\] (?:⭐ Run Set up job|🏁  Job (succeeded|failed))$")


def progress_line(line: str) -> str | None:
    """A short line for a job starting or ending, or a workflow's own step (not a composite action's inner
    shell step) finishing; None for everything else act prints."""
    job = JOB_EVENT.match(line)
    if job:
        name, outcome = job.groups()
        name = name.strip()
        return f"  {name}: {'started' if outcome is None else 'job ' + outcome}"
    step = STEP_RESULT.match(line)
    if not step:
        return None
    name, result, title, duration = step.groups()
    name = name.strip()
    if not (title[:1].isupper() or re.search(r"@[0-9a-f]{40}$", title)):
        return None
    title = re.sub(r"@[0-9a-f]{40}$", "", title)
    took = f" ({go_duration(duration):.1f}s)" if duration else ""
    return f"  {name}: {'✓' if result.startswith('✅') else '✗'} {title}{took}"
