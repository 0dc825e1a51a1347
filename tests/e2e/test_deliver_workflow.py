"""The delivery workflow that `mlcd init` writes, run for real with act on a push to main: the model is
trained, gated, packaged, smoke-tested and pushed to the local registry, by digest; staging and
production are handed that digest. Needs scripts/services (Docker engine, registry on 127.0.0.1:5000)."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest

from testing import webhooks
from testing.act import Act
from testing.images import BASE_IMAGE, REGISTRY, WHEELHOUSE, start_services
from testing.repos import git

from .conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])


def test_push_to_main_delivers_the_image_by_digest(act: Act, user_repo: Path) -> None:
    problem = start_services()
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    before = git(user_repo, "rev-parse", "HEAD").strip()
    params = user_repo / "params.yaml"
    params.write_text(params.read_text().replace("max_iter: 1000", "max_iter: 1500"))
    git(user_repo, "commit", "-qam", "params: max_iter 1500")
    after = git(user_repo, "rev-parse", "HEAD").strip()

    event = webhooks.push(REPO, ref="refs/heads/main", before=before, after=after)
    run = act.run("push", event, user_repo, user_repo / ".github" / "workflows" / "mlcd-deliver.yml",
                  secrets={"GITHUB_TOKEN": "act-token"},
                  variables={"MLCD_REGISTRY": REGISTRY, "MLCD_IMAGE": REPO, "MLCD_BASE_IMAGE": BASE_IMAGE,
                             "MLCD_WHEELHOUSE": str(WHEELHOUSE)})
    print(f"act push: exit {run.returncode} in {run.seconds:.1f}s; log {run.log}")
    assert run.returncode == 0, run.output[-8000:]

    digests = set(re.findall(r"::set-output:: digest=(sha256:[0-9a-f]{64})", run.output))
    assert len(digests) == 1, digests
    [digest] = digests
    request = urllib.request.Request(f"http://{REGISTRY}/v2/{REPO}/manifests/{digest}", method="HEAD",
                                     headers={"Accept": MANIFEST_TYPES})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Docker-Content-Digest"] == digest
    assert "::set-output:: passed=true" in "\n".join(run.job_lines("package, smoke-test, push"))
    assert any(f"production: {REGISTRY}/{REPO}@{digest}" in line for line in run.job_lines("production"))
    assert not any("Attest" in line and "Success - Main" in line for line in run.output.splitlines())
