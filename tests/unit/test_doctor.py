"""mlcd doctor's checks on canned tool output: each failure carries its fix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mlcd.doctor import Ran, check_docker, check_dvc_remote, check_gpu, check_python


def runner(answers: dict[str, Ran]):  # type: ignore[no-untyped-def]
    def run(command: Sequence[str], cwd: Path) -> Ran:
        key = " ".join(command[2:4]) if command[0].endswith("python") or "python" in command[0] else command[0]
        return answers.get(key, Ran(127, "", f"{command[0]}: command not found"))
    return run


def test_python_version() -> None:
    assert check_python((3, 11, 7)).ok is True
    old = check_python((3, 9, 18))
    assert old.ok is False and "3.10" in (old.fix or "")


def test_docker_unreachable_says_how_to_start_it(tmp_path: Path) -> None:
    check = check_docker(runner({"docker": Ran(1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock")}),
                         tmp_path)
    assert check.ok is False and "docker.sock" in check.detail and "usermod" in (check.fix or "")


def test_gpu_parsed_from_nvidia_smi(tmp_path: Path) -> None:
    gpu = runner({"nvidia-smi": Ran(0, "NVIDIA A10G, 535.104.05, 23028\n", "")})
    check = check_gpu(gpu, tmp_path, required=True)
    assert check.ok is True and "NVIDIA A10G (23028 MiB)" in check.detail and "535.104.05" in check.detail
    assert check_gpu(runner({}), tmp_path, required=False).ok is None
    missing = check_gpu(runner({}), tmp_path, required=True)
    assert missing.ok is False and "nvidia-smi" in missing.detail


def test_dvc_remote(tmp_path: Path) -> None:
    assert check_dvc_remote(runner({}), tmp_path).ok is None  # not a DVC project
    (tmp_path / ".dvc").mkdir()
    none = check_dvc_remote(runner({"dvc remote": Ran(0, "", "")}), tmp_path)
    assert none.ok is False and "dvc remote add" in (none.fix or "")
    ok = check_dvc_remote(runner({"dvc remote": Ran(0, "local\t../.dvc-storage\n", ""),
                                  "dvc status": Ran(0, "", "")}), tmp_path)
    assert ok.ok is True and "local" in ok.detail
    no_credentials = Ran(255, "", "ERROR: unexpected error - Unable to locate credentials")
    broken = check_dvc_remote(runner({"dvc remote": Ran(0, "storage\ts3://bucket\n", ""),
                                      "dvc status": no_credentials}), tmp_path)
    assert broken.ok is False and "credentials" in broken.detail and "OIDC" in (broken.fix or "")
