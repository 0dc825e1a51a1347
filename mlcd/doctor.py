"""`mlcd doctor`: can this machine run mlcd's jobs? One check per thing a runner needs, each with its fix.

Each check is a function of a command runner, so tests give it canned tool output instead of a machine.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlcd.lineage import parse_cuda_version, parse_nvidia_smi

MIN_PYTHON = (3, 10)


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


Runner = Callable[[Sequence[str], Path], Ran]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: not applicable here
    detail: str
    fix: str | None = None


def run_command(command: Sequence[str], cwd: Path) -> Ran:
    if shutil.which(command[0]) is None:
        return Ran(127, "", f"{command[0]}: command not found")
    try:
        done = subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return Ran(124, "", f"`{' '.join(command)}` did not answer within 60 s")
    except OSError as exc:
        return Ran(126, "", str(exc))
    return Ran(done.returncode, done.stdout, done.stderr)


def _last_line(ran: Ran) -> str:
    lines = [line.strip() for line in (ran.stderr or ran.stdout).splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {ran.returncode}"


def check_python(version: tuple[int, int, int] = sys.version_info[:3]) -> Check:
    text = ".".join(map(str, version))
    if version[:2] >= MIN_PYTHON:
        return Check("Python", True, f"Python {text} ({sys.executable})")
    return Check("Python", False, f"Python {text} is older than {'.'.join(map(str, MIN_PYTHON))}",
                 "install Python 3.10 or newer, or add actions/setup-python before mlcd's setup action")


def check_git(run: Runner, cwd: Path) -> Check:
    version = run(["git", "--version"], cwd)
    if version.returncode != 0:
        return Check("git", False, _last_line(version), "install git (e.g. `apt-get install git`)")
    inside = run(["git", "rev-parse", "--show-toplevel"], cwd)
    if inside.returncode != 0:
        return Check("git", False, f"{version.stdout.strip()}, but {cwd} is not in a git repository",
                     "run mlcd in the repository's checkout (actions/checkout)")
    return Check("git", True, f"{version.stdout.strip()}, repository {inside.stdout.strip()}")


def check_docker(run: Runner, cwd: Path) -> Check:
    ran = run(["docker", "version", "--format", "{{.Server.Version}}"], cwd)
    if ran.returncode == 0 and ran.stdout.strip():
        return Check("Docker", True, f"engine {ran.stdout.strip()} reachable")
    if ran.returncode == 127:
        return Check("Docker", False, "no docker CLI on PATH",
                     "install Docker Engine (https://docs.docker.com/engine/install/); only needed to package images")
    return Check("Docker", False, f"the engine does not answer: {_last_line(ran)}",
                 "start the engine (`sudo systemctl start docker`) and let the runner's user use it "
                 "(`sudo usermod -aG docker $USER`, then restart the runner)")


def check_dvc_remote(run: Runner, cwd: Path) -> Check:
    if not (cwd / ".dvc").is_dir():
        return Check("DVC remote", None, f"{cwd} is not a DVC project: nothing to check")
    remotes = run([sys.executable, "-m", "dvc", "remote", "list"], cwd)
    if remotes.returncode != 0:
        return Check("DVC remote", False, f"`dvc remote list` failed: {_last_line(remotes)}",
                     "check .dvc/config; `dvc doctor` tells which DVC plugins are installed")
    names = [line.split()[0] for line in remotes.stdout.splitlines() if line.strip()]
    if not names:
        return Check("DVC remote", False, "no DVC remote configured",
                     "add one: `dvc remote add -d storage s3://bucket/path` (or a local directory), and commit "
                     ".dvc/config")
    status = run([sys.executable, "-m", "dvc", "status", "--cloud", "--quiet"], cwd)
    # exit 0: in sync; 1: some data differs but the remote answered; anything else: it could not be reached
    if status.returncode in (0, 1) and "ERROR" not in status.stderr:
        state = "in sync" if status.returncode == 0 else "reachable, not in sync (`dvc push` / `dvc pull`)"
        return Check("DVC remote", True, f"{', '.join(names)}: {state}")
    return Check("DVC remote", False, f"{', '.join(names)} cannot be read: {_last_line(status)}",
                 "install the remote's DVC plugin (e.g. `pip install 'dvc[s3]'`) and give the runner credentials "
                 "(OIDC in GitHub Actions; see the template README), then `dvc status --cloud`")


def check_gpu(run: Runner, cwd: Path, required: bool) -> Check:
    query = run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits"],
                cwd)
    gpus = parse_nvidia_smi(query.stdout) if query.returncode == 0 else []
    if gpus:
        cuda = parse_cuda_version(run(["nvidia-smi"], cwd).stdout)
        names = "; ".join(f"{g.name} ({g.memory_mib} MiB)" if g.memory_mib else g.name for g in gpus)
        return Check("GPU", True, f"{len(gpus)} visible: {names}, driver {gpus[0].driver}"
                     + (f", CUDA {cuda}" if cuda else ""))
    reason = "no nvidia-smi on PATH" if query.returncode == 127 else f"nvidia-smi: {_last_line(query)}" \
        if query.returncode != 0 else "nvidia-smi lists no GPU"
    if not required:
        return Check("GPU", None, f"{reason} (fine for CPU training; pass --gpu on a GPU runner)")
    return Check("GPU", False, reason,
                 "install the NVIDIA driver and check `nvidia-smi`; in a container, run it with `--gpus all` "
                 "(NVIDIA Container Toolkit)")


def run_checks(cwd: Path, *, gpu: bool, run: Runner = run_command) -> list[Check]:
    return [check_python(), check_git(run, cwd), check_docker(run, cwd), check_dvc_remote(run, cwd),
            check_gpu(run, cwd, gpu)]
