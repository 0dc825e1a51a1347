"""What mlcd's setup costs a job, pip against uv, and the pull-request workflow's overhead under act.

1. The setup action's work on a fresh runner: a virtualenv holding mlcd with its extras (train, serve,
   package) and the template project's requirements.txt, installed from this checkout
   - with pip, as the setup action did before (cold: an empty pip cache; warm: pip's cache kept), and
   - with uv, as the setup action does now (uv itself installed with pip into its own directory; cold:
     empty caches; warm: the uv cache the action keeps, pruned with `uv cache prune --ci`).
2. The pull-request workflow under act on the template project, released and initialised as users get
   it (testing/release.py): its wall time, and its overhead — everything but the training step.

Targets: uv setup ≤ 15 s cold on this machine; the PR workflow's overhead ≤ 60 s.
Run: python benchmarks/bench_setup.py [--skip-act]   (about 6 minutes; needs PyPI for the cold runs)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SETUP_TARGET_SECONDS = 15.0
OVERHEAD_TARGET_SECONDS = 60.0
EXTRAS = "train,serve,package"
REQUIREMENTS = ROOT / "template-repo" / "requirements.txt"


def uv_version() -> str:
    """The uv version the setup action installs (its UV_VERSION)."""
    for line in (ROOT / "actions" / "setup" / "action.yml").read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("UV_VERSION:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit("actions/setup/action.yml sets no UV_VERSION")


def run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def pip_setup(work: Path, cache: Path) -> float:
    venv = work / "pip-venv"
    shutil.rmtree(venv, ignore_errors=True)
    env = {**os.environ, "PIP_CACHE_DIR": str(cache), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    started = time.perf_counter()
    run([sys.executable, "-m", "venv", str(venv)], env)
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], env)
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", f"{ROOT}[{EXTRAS}]", "-r",
         str(REQUIREMENTS)], env)
    return time.perf_counter() - started


def uv_setup(work: Path, uv_home: Path) -> float:
    venv = work / "uv-venv"
    shutil.rmtree(venv, ignore_errors=True)
    env = {**os.environ, "UV_CACHE_DIR": str(uv_home / "cache"), "UV_PYTHON_DOWNLOADS": "never",
           "UV_NO_PROGRESS": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    uv = uv_home / "tool" / "bin" / "uv"
    started = time.perf_counter()
    if not uv.exists():
        run([sys.executable, "-m", "pip", "install", "--quiet", "--no-warn-script-location", "--target",
             str(uv_home / "tool"), f"uv=={uv_version()}"], env)
    run([str(uv), "venv", "--quiet", "--python", sys.executable, str(venv)], env)
    run([str(uv), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), f"{ROOT}[{EXTRAS}]", "-r",
         str(REQUIREMENTS)], env)
    run([str(uv), "cache", "prune", "--ci", "--quiet"], env)
    return time.perf_counter() - started


def setup_figures(work: Path) -> None:
    pip_cache, uv_home = work / "pip-cache", work / "uv-home"
    print(f"setup: a virtualenv with mlcd[{EXTRAS}] and {REQUIREMENTS.relative_to(ROOT)}")
    pip_cold = pip_setup(work, pip_cache)
    uv_cold = uv_setup(work, uv_home)
    pip_warm = pip_setup(work, pip_cache)
    uv_warm = uv_setup(work, uv_home)
    print(f"  pip, cold (empty cache)         {pip_cold:7.1f} s")
    print(f"  uv,  cold (empty cache)         {uv_cold:7.1f} s   {pip_cold / uv_cold:5.1f}× faster than pip "
          f"(target ≤ {SETUP_TARGET_SECONDS:.0f} s: {'met' if uv_cold <= SETUP_TARGET_SECONDS else 'missed'})")
    print(f"  pip, warm (pip's cache)         {pip_warm:7.1f} s")
    print(f"  uv,  warm (the action's cache)  {uv_warm:7.1f} s   {pip_warm / uv_warm:5.1f}× faster than pip")


def act_overhead(work: Path) -> None:
    from testing import webhooks
    from testing.act import Act
    from testing.github_standin import GitHubStandin
    from testing.github_standin.ensure_spec import ensure_spec
    from testing.github_standin.openapi import load as load_openapi
    from testing.release import ReleasedMlcd
    from testing.repos import git, make_user_repo

    binary = Path(sys.executable).parent / "act"
    released = ReleasedMlcd.from_checkout(work / "release")
    release = released.release()
    users_mlcd = released.install(release.version, work / "users-mlcd")
    repository = "bench-org/penguins"
    repo = make_user_repo(work / "repositories" / repository, repository, users_mlcd)
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-qb", "more-iterations")
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("max_iter: 1000", "max_iter: 2000"))
    git(repo, "commit", "-qam", "params: max_iter 2000")
    head = git(repo, "rev-parse", "HEAD").strip()
    webhooks.ensure_packages()
    act = Act(binary=binary, mlcd=released, repositories=work / "repositories", cache=work / "actions-cache",
              work=work / "runs")
    standin = GitHubStandin(load_openapi(ensure_spec())).start()
    try:
        standin.add_pull_request(repository, 1, head)
        event = webhooks.pull_request(repository, 1, head_ref="more-iterations", head_sha=head, base_ref="main",
                                      base_sha=base)
        result = act.run("pull_request", event, repo, repo / ".github" / "workflows" / "mlcd-pr.yml",
                         env={"GITHUB_API_URL": standin.url}, secrets={"GITHUB_TOKEN": standin.token})
    finally:
        standin.stop()
    if result.returncode != 0:
        raise SystemExit(f"the pull-request workflow failed under act; see {result.log}")
    steps = result.step_seconds()
    training = sum(seconds for key, seconds in steps.items() if "/actions/train@" in key)
    overhead = result.seconds - training
    print(f"pull-request workflow under act: {result.seconds:.1f} s, of which training (mlcd train) {training:.1f} s")
    print(f"  overhead {overhead:.1f} s: {overhead / OVERHEAD_TARGET_SECONDS:.2f}× the {OVERHEAD_TARGET_SECONDS:.0f} s "
          f"target ({'met' if overhead <= OVERHEAD_TARGET_SECONDS else 'missed'})")
    for key, seconds in sorted(steps.items(), key=lambda item: -item[1])[:10]:
        print(f"  {seconds:7.1f} s  {key}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-act", action="store_true", help="measure the setup step only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlcd-bench-setup-") as tmp:
        setup_figures(Path(tmp))
        if not args.skip_act:
            act_overhead(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
