"""The pure parts of package, smoke and push: requirements, labels, build and push streams, parity, SBOM."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlcd.config.model import ColumnSpec
from mlcd.errors import InputError, UsageError
from mlcd.packaging import labels, parity, sbom
from mlcd.packaging.build import BuildProgress, Step, failure_fix, reset_context
from mlcd.packaging.container import signals_interrupt
from mlcd.packaging.push import PushProgress, parse_target, push_fix, tags_for
from mlcd.packaging.requirements import installed_versions, requirement_name, serving_names, serving_requirements
from mlcd.packaging.smoke import ErrorCheck, SmokeReport
from mlcd.packaging.wheelhouse import open_wheelhouse
from mlcd.registry import ImageRef, Registry

# as importlib.metadata.requires("mlcd") gives them: the core, then each extra's in its marker
MLCD_REQUIRES = ["pyyaml>=6", "requests>=2.31", 'dvc>=3.40; extra == "train"', 'pandas>=2.0; extra == "train"',
                 'pyarrow>=14; extra == "train"', 'scikit-learn>=1.3; extra == "train"',
                 'pandera>=0.20; extra == "train"',
                 'uvloop>=0.19; sys_platform != "win32" and extra == "serve"', "pandas>=2.0; extra == 'serve'",
                 'scikit-learn>=1.3; extra == "serve"', 'docker>=7; extra == "package"',
                 'mlcd[package,serve,train]; extra == "test"', 'pytest>=8; extra == "test"']


# --- requirements ------------------------------------------------------------------------------------------


def test_serving_requirements_are_the_core_and_the_serve_extra_pinned_where_known() -> None:
    lines = serving_requirements(MLCD_REQUIRES, {"Scikit_Learn": "1.5.2", "pandas": "2.2.3", "dvc": "3.50.0"})
    assert lines == ["pyyaml>=6", "requests>=2.31", "uvloop>=0.19", "pandas==2.2.3", "scikit-learn==1.5.2"]
    assert serving_names(MLCD_REQUIRES) == ["pyyaml", "requests", "uvloop", "pandas", "scikit-learn"]


def test_the_installed_mlcd_serves_its_serve_extra_and_none_of_train_or_package() -> None:
    own = metadata.requires("mlcd") or []
    served = set(serving_names(own))
    extra = {requirement_name(spec) for spec in own if 'extra == "serve"' in spec}
    # dumb-init: the image's init (its ENTRYPOINT), installed from the wheelhouse with the rest
    assert {"starlette", "uvicorn", "prometheus-client", "skops", "scikit-learn", "numpy", "pyyaml",
            "dumb-init"} <= served
    assert extra <= served
    assert not {"dvc", "gto", "pandera", "pyarrow", "fsspec", "docker", "pytest", "mlcd"} & served
    lines = serving_requirements(own, installed_versions(served))
    assert f"skops=={metadata.version('skops')}" in lines and len(lines) == len(served)


def test_user_requirements_come_last_and_win_over_a_pin() -> None:
    lines = serving_requirements(MLCD_REQUIRES, {"scikit-learn": "1.5.2"}, ["scikit-learn==1.4.0", " xgboost>=2 "])
    assert lines[-2:] == ["scikit-learn==1.4.0", "xgboost>=2"]
    assert "scikit-learn==1.5.2" not in lines


def test_requirement_names_are_normalized() -> None:
    assert requirement_name("Scikit_Learn[extra]>=1; python_version>'3'") == "scikit-learn"
    with pytest.raises(ValueError):
        requirement_name(">=1.0")


# --- labels --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("remote", "url"), [
    ("https://x-access-token:ghs_secret@github.com/o/r.git", "https://github.com/o/r"),
    ("git@github.com:o/r.git", "https://github.com/o/r"),
    ("ssh://git@gitlab.example.com:2222/g/r.git", "https://gitlab.example.com/g/r"),
    ("https://user@example.com:8443/r", "https://example.com:8443/r"),
    ("/srv/repos/r.git", None),
    ("", None),
])
def test_source_urls_never_carry_credentials(remote: str, url: str | None) -> None:
    assert labels.public_source_url(remote) == url


def test_headline_metrics_and_data_version() -> None:
    document = {"accuracy": 0.97, "log_loss": 0.08, "n_holdout": 69, "slices": {"sex": {}}, "flag": True}
    assert labels.headline_metrics(document, ["accuracy", "log_loss", "missing"]) == {"accuracy": 0.97,
                                                                                       "log_loss": 0.08}
    assert labels.headline_metrics(document, []) == {"accuracy": 0.97, "log_loss": 0.08, "n_holdout": 69}
    hashes = {"data/raw.csv": "aaa", "data/train.csv": "bbb"}
    assert labels.data_version(hashes, ["data/train.csv", "data/raw.csv"]) == "bbb"
    assert labels.data_version(hashes, [None, "data/raw.csv"]) == "aaa"
    assert labels.data_version(hashes, ["other.csv"]) is None


def test_image_labels() -> None:
    lineage = {"git": {"commit": "c" * 40, "dirty": False}, "seed": 42, "training": {"finished_at": "T"},
               "libraries": {"scikit-learn": "1.5.2", "dvc": "3.0", "python": "3.11.7"}, "hardware": {"cpu": "x"}}
    made = labels.image_labels(model_name="m", model_sha256="ab" * 32, created="2026-01-01T00:00:00Z",
                               revision="d" * 40, source=None, data="md5", metrics={"accuracy": 0.9},
                               lineage=lineage)
    assert made[labels.MODEL_SHA256] == "ab" * 32 and made[labels.OCI + "version"] == "ab" * 6
    assert made[labels.OCI + "title"] == made[labels.MODEL_NAME] == "m"
    assert made[labels.REVISION] == "d" * 40 and labels.OCI + "source" not in made
    assert made[labels.METRICS] == '{"accuracy":0.9}'
    assert json.loads(made[labels.LINEAGE]) == {"git_commit": "c" * 40, "git_dirty": False, "seed": 42,
                                                "trained_at": "T",
                                                "libraries": {"scikit-learn": "1.5.2", "python": "3.11.7"}}


# --- build stream ----------------------------------------------------------------------------------------------


def test_build_progress_follows_steps_cache_and_result() -> None:
    progress = BuildProgress()
    started = []
    for chunk in [{"stream": "Step 1/3 : FROM base AS deps"}, {"stream": "\n ---> 1234\n"},
                  {"stream": "Step 2/3 : RUN pip ins"}, {"stream": "tall x\n ---> Using cache\n"},
                  {"stream": "Step 3/3 : COPY model /m\n"}, {"stream": " ---> abcd\n"},
                  {"aux": {"ID": "sha256:feed"}}, {"stream": "Successfully built feed\n"}]:
        started += progress.feed(chunk)
    assert [s.instruction for s in started] == ["FROM base AS deps", "RUN pip install x", "COPY model /m"]
    assert progress.image_id == "sha256:feed" and progress.error is None
    assert len(progress.build_steps) == 2 and progress.cached_steps == 1


def test_build_progress_keeps_the_failing_steps_log() -> None:
    progress = BuildProgress()
    for chunk in [{"stream": "Step 4/9 : RUN pip install -r r.txt\n"},
                  {"stream": "ERROR: No matching distribution found for scikit-learn==1.5.2\n"},
                  {"errorDetail": {"message": "The command returned a non-zero code: 1"},
                   "error": "The command '/bin/sh -c pip install' returned a non-zero code: 1"}]:
        progress.feed(chunk)
    assert progress.error == "The command '/bin/sh -c pip install' returned a non-zero code: 1"
    assert progress.current is not None and progress.current.number == 4
    assert "No matching distribution" in progress.current.lines[0]
    assert "wheelhouse has no wheel for scikit-learn==1.5.2" in failure_fix(progress.current, progress.error, "b",
                                                                             hermetic=True)


def test_failure_fix_for_an_unpullable_base_image() -> None:
    step = Step(1, 9, "FROM python:3.11-slim AS dependencies")
    fix = failure_fix(step, "Get https://registry-1.docker.io/v2/: dial tcp: lookup registry-1.docker.io", "p",
                      hermetic=False)
    assert "cannot be pulled" in fix and "--base-image" in fix


def test_reset_context_refuses_a_directory_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "mlcd.yaml").write_text("version: 1\n")
    with pytest.raises(UsageError, match="not made by mlcd package"):
        reset_context(tmp_path)
    assert (tmp_path / "mlcd.yaml").exists()
    context = tmp_path / "context"
    reset_context(context)
    (context / "stale").write_text("x")
    (context / "wheels").mkdir()
    (context / ".mlcd-inventory.json").write_text("{}")  # the SBOM's cache outlives a rebuild
    reset_context(context)
    assert sorted(p.name for p in context.iterdir()) == [".mlcd-context", ".mlcd-inventory.json"]


def test_the_environment_id_is_the_image_after_mlcd_is_copied_in() -> None:
    progress = BuildProgress()
    for line in ["Step 12/20 : COPY --from=runtime /opt/mlcd /opt/mlcd", " ---> Using cache", " ---> 0123456789ab",
                 "Step 13/20 : COPY --from=server /opt/mlcd-server /opt/mlcd-server", " ---> Running in feedfeedfeed",
                 " ---> abcdefabcdef", "Step 14/20 : COPY app/ /srv/mlcd/", " ---> 999999999999"]:
        progress.feed({"stream": line + "\n"})
    assert progress.environment_id() == "abcdefabcdef"
    assert BuildProgress().environment_id() is None


# --- push ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "registry", "path", "api"), [
    ("127.0.0.1:5000/team/model", "127.0.0.1:5000", "team/model", "http://127.0.0.1:5000/v2/team/model"),
    ("localhost/model", "localhost", "model", "http://localhost/v2/model"),
    ("ghcr.io/owner/model", "ghcr.io", "owner/model", "https://ghcr.io/v2/owner/model"),
    ("owner/model", "docker.io", "owner/model", "https://registry-1.docker.io/v2/owner/model"),
    ("model", "docker.io", "library/model", "https://registry-1.docker.io/v2/library/model"),
])
def test_targets_are_read_as_docker_reads_references(text: str, registry: str, path: str, api: str) -> None:
    target = parse_target(text)
    assert (target.registry, target.repository, f"{Registry(target.registry).base}/{target.repository}") == \
        (registry, path, api)


@pytest.mark.parametrize("text", ["ghcr.io/o/m:latest", "ghcr.io/o/m@sha256:abc", "ghcr.io/O/M", ""])
def test_targets_with_tags_or_bad_names_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        parse_target(text)


def test_tags_name_the_commit_and_the_model() -> None:
    assert tags_for("0123456789abcdef", "fedcba9876543210" * 4) == ["sha-0123456789ab", "model-fedcba987654"]


def test_push_progress_finds_errors_only_the_stream_reports() -> None:
    progress = PushProgress()
    for chunk in [{"status": "The push refers to repository [r]"}, {"id": "a1", "status": "Preparing"},
                  {"id": "a1", "status": "Pushed"}, {"id": "b2", "status": "Layer already exists"},
                  {"errorDetail": {"message": "unauthorized: authentication required"},
                   "error": "unauthorized: authentication required"}]:
        progress.feed(chunk)
    assert progress.layers == {"a1": "Pushed", "b2": "Layer already exists"}
    assert progress.error == "unauthorized: authentication required" and progress.digest is None
    target = ImageRef("ghcr.io", "o/m")
    assert "docker login ghcr.io" in push_fix(progress.error, target)
    assert "registry is running" in push_fix("dial tcp 127.0.0.1:5999: connect: connection refused", target)
    done = PushProgress()
    done.feed({"aux": {"Tag": "t", "Digest": "sha256:" + "1" * 64, "Size": 1}})
    assert done.digest == "sha256:" + "1" * 64


# --- parity --------------------------------------------------------------------------------------------------


FEATURES = (ColumnSpec("island", "category", allowed=("a", "b")), ColumnSpec("mass", "float", nullable=True),
            ColumnSpec("count", "int", nullable=True), ColumnSpec("flag", "bool"))


def test_requests_carry_one_tensor_per_feature_with_nulls_for_missing_values() -> None:
    types = parity.datatypes(FEATURES)
    assert types == {"island": "BYTES", "mass": "FP64", "count": "INT64", "flag": "BOOL"}
    body = parity.infer_request({"island": ["a", float("nan")], "mass": [np.float64(1.5), float("nan")],
                                 "count": [3.0, None], "flag": [np.bool_(True), False]}, types)
    assert body == {"inputs": [
        {"name": "island", "shape": [2], "datatype": "BYTES", "data": ["a", None]},
        {"name": "mass", "shape": [2], "datatype": "FP64", "data": [1.5, None]},
        {"name": "count", "shape": [2], "datatype": "INT64", "data": [3, None]},
        {"name": "flag", "shape": [2], "datatype": "BOOL", "data": [True, False]}],
        "parameters": {"mlcd_log": False}}  # a check, kept out of the server's prediction log
    assert isinstance(body["inputs"][2]["data"][0], int)


def answer(labels_: list[object], proba: list[float] | None, classes: list[str]) -> dict[str, object]:
    outputs: list[dict[str, object]] = [{"name": "predict", "datatype": "BYTES", "shape": [len(labels_)],
                                         "data": labels_}]
    if proba is not None:
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [len(labels_), len(classes)],
                        "data": proba, "parameters": {"classes": classes}})
    return {"model_name": "m", "outputs": outputs}


def test_parity_matches_classes_by_name_and_reports_each_difference() -> None:
    offline = [[0.9, 0.1], [0.2, 0.8]]
    served = parity.parse_response(answer(["a", "b"], [0.1, 0.9, 0.8, 0.2], ["b", "a"]), 2)
    assert parity.compare(10, ["a", "b"], offline, ["a", "b"], served) == ([], pytest.approx(0.0))
    off = parity.parse_response(answer(["a", "a"], [0.1, 0.9, 0.8 + 2e-6, 0.2 - 2e-6], ["b", "a"]), 2)
    mismatches, gap = parity.compare(10, ["a", "b"], offline, ["a", "b"], off)
    assert mismatches[0].describe() == "row 11 label: offline 'b', served 'a'"
    assert {(m.row, m.field) for m in mismatches} == {(11, "label"), (11, "P(a)"), (11, "P(b)")}
    assert gap == pytest.approx(2e-6)


def test_parity_flags_missing_probabilities_and_other_classes() -> None:
    no_proba = parity.parse_response(answer(["a"], None, []), 1)
    assert parity.compare(0, ["a"], [[1.0, 0.0]], ["a", "b"], no_proba)[0][0].field == "predict_proba"
    other = parity.parse_response(answer(["a"], [0.5, 0.5], ["a", "c"]), 1)
    assert parity.compare(0, ["a"], [[1.0, 0.0]], ["a", "b"], other)[0][0].field == "classes"


@pytest.mark.parametrize("body", [
    {"outputs": []}, {"outputs": [{"name": "predict", "data": ["a"]}]}, [],
    answer(["a", "b"], [0.5, 0.5, 0.5], ["a", "b"]),
])
def test_answers_that_are_not_oip_are_refused(body: object) -> None:
    with pytest.raises(ValueError):
        parity.parse_response(body, 2)


def test_numeric_labels_compare_within_tolerance() -> None:
    served = parity.Served([1.0000001, 5], None, None)
    assert parity.compare(0, [1.0, 5], None, None, served)[0] == []


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=200),
       st.sampled_from([0, 1, 50, 90, 99, 100]))
def test_percentile_agrees_with_numpy(values: list[float], q: int) -> None:
    assert parity.percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


# --- smoke report and signals --------------------------------------------------------------------------------


def test_smoke_report_fails_on_a_mismatch_or_a_wrong_status() -> None:
    report = SmokeReport("img", "sha256:1", "f" * 64, "10001:10001", rows=2, latencies_ms=[1.0, 3.0])
    report.checks = [ErrorCheck("body is not JSON", 400, 400)]
    assert report.passed and report.to_json()["latency_ms"] == {"requests": 2, "p50": 2.0, "p99": 2.98}
    report.checks.append(ErrorCheck("body over the size limit", 413, None, "connection reset"))
    report.mismatches.append(parity.Mismatch(1, "label", "a", "b"))
    assert not report.passed
    assert report.failures == ["row 1 label: offline 'a', served 'b'",
                               "body over the size limit: expected 413, got no answer connection reset"]
    assert "❌ failed" in report.markdown()


def test_sigterm_becomes_keyboard_interrupt_inside_smoke_and_only_there() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"), signals_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before


# --- SBOM ----------------------------------------------------------------------------------------------------


INVENTORY = {"python": "3.11.2", "distributions": [
    {"name": "scikit_learn", "version": "1.5.2", "summary": "ML", "license_expression": "BSD-3-Clause",
     "license": "", "classifiers": [], "requires": ["numpy>=1.19", "pytest; extra == 'tests'", "joblib>=1.2"]},
    {"name": "numpy", "version": "2.1.0", "summary": None, "license_expression": None,
     "license": "long text\n" * 30, "classifiers": ["License :: OSI Approved :: BSD License"], "requires": []},
    {"name": "mlcd", "version": "0.1.0", "summary": "x", "license_expression": None, "license": "Apache-2.0",
     "classifiers": [], "requires": ["numpy"]},
]}


def test_sbom_lists_packages_licenses_hashes_dependencies_and_the_model() -> None:
    document = sbom.to_cyclonedx(INVENTORY, image="m:1", image_id="sha256:9", model_name="penguins",
                                 model_sha256="ab" * 32, hashes={("numpy", "2.1.0"): "cd" * 32},
                                 timestamp="2026-01-01T00:00:00+00:00", serial="urn:uuid:1")
    assert document["bomFormat"] == "CycloneDX" and document["specVersion"] == "1.5"
    components = {c["name"]: c for c in document["components"]}
    assert [c["name"] for c in document["components"]] == ["mlcd", "numpy", "scikit_learn", "penguins"]
    assert components["scikit_learn"]["purl"] == "pkg:pypi/scikit-learn@1.5.2"
    assert components["scikit_learn"]["licenses"] == [{"expression": "BSD-3-Clause"}]
    assert components["numpy"]["licenses"] == [{"license": {"name": "BSD License"}}]
    assert components["mlcd"]["licenses"] == [{"license": {"name": "Apache-2.0"}}]
    assert components["numpy"]["hashes"] == [{"alg": "SHA-256", "content": "cd" * 32}]
    assert components["penguins"]["type"] == "machine-learning-model"
    assert components["penguins"]["hashes"][0]["content"] == "ab" * 32
    edges = {d["ref"]: d["dependsOn"] for d in document["dependencies"]}
    assert edges["pkg:pypi/scikit-learn@1.5.2"] == ["pkg:pypi/numpy@2.1.0"]  # joblib absent, pytest an extra
    assert document["metadata"]["component"]["name"] == "m:1"
    again = sbom.to_cyclonedx(INVENTORY, image="m:1", image_id="sha256:9", model_name="penguins",
                              model_sha256="ab" * 32, hashes={("numpy", "2.1.0"): "cd" * 32},
                              timestamp="2026-01-01T00:00:00+00:00", serial="urn:uuid:1")
    assert again == document


class NoEngine:
    containers = None  # reading the inventory from a container would fail: the cache must answer


def test_the_inventory_is_read_again_only_when_the_environment_changed(tmp_path: Path) -> None:
    cache = tmp_path / "inventory.json"
    cache.write_text(json.dumps({"key": "abc", "inventory": INVENTORY}))
    assert sbom.cached_inventory(NoEngine(), "sha256:1", cache, "abc") == INVENTORY
    with pytest.raises(AttributeError):
        sbom.cached_inventory(NoEngine(), "sha256:1", cache, "other")


def test_a_wheelhouse_is_keyed_by_its_wheels_contents(tmp_path: Path) -> None:
    (tmp_path / "scikit_learn-1.5.2-cp311-cp311-manylinux_2_17_x86_64.whl").write_bytes(b"wheel")
    (tmp_path / "mlcd-0.1.0-py3-none-any.whl").write_bytes(b"mlcd")
    with pytest.raises(InputError, match=r"no wheel of mlcd 0\.2\.0"):
        open_wheelhouse(tmp_path, "0.2.0")
    wheels = open_wheelhouse(tmp_path, "0.1.0")
    assert wheels.mlcd_wheel.name == "mlcd-0.1.0-py3-none-any.whl"
    assert wheels.by_distribution() == {("scikit-learn", "1.5.2"): hashlib.sha256(b"wheel").hexdigest()}
    first = wheels.image
    assert re.fullmatch(r"mlcd-wheelhouse:[0-9a-f]{16}", first)
    (tmp_path / "scikit_learn-1.5.2-cp311-cp311-manylinux_2_17_x86_64.whl").write_bytes(b"other")
    assert open_wheelhouse(tmp_path, "0.1.0").image != first
    (tmp_path / "mlcd-0.1.0-py3-none-any.whl").write_bytes(b"new mlcd")  # mlcd has a layer of its own
    assert open_wheelhouse(tmp_path, "0.1.0").key == open_wheelhouse(tmp_path, "0.1.0").key


# --- docs ----------------------------------------------------------------------------------------------------


def test_the_package_example_in_the_docs_fits_the_schema() -> None:
    import jsonschema
    import yaml

    root = Path(__file__).resolve().parents[2]
    docs = (root / "docs" / "packaging.md").read_text()
    block = re.search(r"```yaml\n# mlcd.yaml\n(.*?)```", docs, flags=re.S)
    assert block is not None
    schema = json.loads((root / "mlcd" / "resources" / "mlcd.schema.json").read_text())
    jsonschema.validate(yaml.safe_load(block.group(1))["package"], schema["properties"]["package"])
