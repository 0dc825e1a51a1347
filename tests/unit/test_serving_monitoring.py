"""The server's monitoring without a server: per-feature accounting, /metrics rates, sampling, log settings."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlcd.config import Config
from mlcd.config.model import PredictionLogConfig
from mlcd.errors import UsageError
from mlcd.monitoring.log_reader import FieldKind, Window, read_window
from mlcd.monitoring.log_writer import PredictionLogWriter, WriterStats
from mlcd.serving.app import Settings
from mlcd.serving.invocations import parse_invocations
from mlcd.serving.metrics import LOG_OUTCOMES, Metrics, process_totals, worker_pids
from mlcd.serving.prediction_log import LogSettings, PredictionLogger, check_writable, resolve_log_settings
from mlcd.serving.protocol import ContractError
from mlcd.serving.validation import FeatureTally, InputSchema, column_problems, tally_features

ROOT = Path(__file__).resolve().parents[2]
ROW: dict[str, Any] = {"island": "Biscoe", "bill_length_mm": 45.1, "bill_depth_mm": 14.5,
                       "flipper_length_mm": 215.0, "body_mass_g": 5000.0, "sex": "female"}




def samples(text: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z_]+(?:\{[^}]*\})?) (\S+)", line)
        if match:
            found[match.group(1)] = float(match.group(2))
    return found


# --- per-feature accounting ----------------------------------------------------------------------------

values = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10_000),
                   st.sampled_from(["Biscoe", "Dream", "Mars", "female", "male", ""]), st.booleans())


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_refused_rows_are_tallied_per_feature_as_the_contract_checks_them(schema: InputSchema,
                                                                          data: st.DataObject) -> None:
    rows = data.draw(st.integers(1, 12))
    columns = {spec.name: data.draw(st.lists(values, min_size=rows, max_size=rows)) for spec in schema.features}
    tallies = {t.feature: t for t in tally_features(schema, columns, rows, valid=False)}
    for spec in schema.features:
        # the oracle: the checks that answer 422, one problem per broken row, nothing cut off
        broken = len(column_problems(columns[spec.name], spec, limit=rows + 1))
        tally = tallies.get(spec.name, FeatureTally(spec.name, 0, 0))
        assert (tally.nulls, tally.out_of_contract) == (columns[spec.name].count(None), broken)
        assert (spec.name in tallies) == bool(tally.nulls or broken)  # only features with something to count


def test_valid_rows_count_nulls_only_and_a_missing_column_breaks_every_row(schema: InputSchema) -> None:
    columns = {name: [value, value, None if name == "sex" else value] for name, value in ROW.items()}
    assert tally_features(schema, columns, 3, valid=True) == [FeatureTally("sex", 1, 0)]
    del columns["island"]
    refused = tally_features(schema, columns, 3, valid=False)
    assert refused == [FeatureTally("island", 0, 3), FeatureTally("sex", 1, 0)]


def test_a_refused_request_keeps_its_columns_for_counting(schema: InputSchema) -> None:
    body = {"dataframe_records": [ROW, {**ROW, "bill_length_mm": 900.0, "island": None}]}
    with pytest.raises(ContractError) as refused:
        parse_invocations(body, schema)
    assert refused.value.status == 422 and refused.value.rows == 2
    assert refused.value.columns["bill_length_mm"] == [45.1, 900.0]


def test_metrics_count_rows_and_derive_per_feature_rates(schema: InputSchema) -> None:
    metrics = Metrics(schema.names)
    fresh = samples(metrics.render().decode())
    assert fresh['mlcd_feature_null_rate{feature="sex"}'] == 0  # every series exists before any traffic
    assert fresh['mlcd_feature_out_of_contract_rate{feature="island"}'] == 0
    rng = np.random.default_rng(3)
    nulls = refused = rows = 0
    for _ in range(40):
        n = int(rng.integers(1, 9))
        sex = [None if rng.random() < 0.2 else "male" for _ in range(n)]
        columns = {**{name: [value] * n for name, value in ROW.items()}, "sex": sex}
        if rng.random() < 0.3:
            columns["bill_length_mm"] = [900.0] * n
            metrics.checked(tally_features(schema, columns, n, valid=False), n)
            refused += n
        else:
            metrics.checked(tally_features(schema, columns, n, valid=True), n)
        nulls += sex.count(None)
        rows += n
    seen = samples(metrics.render().decode())
    assert seen["mlcd_input_rows_total"] == rows
    assert seen['mlcd_feature_nulls_total{feature="sex"}'] == nulls
    assert seen['mlcd_feature_null_rate{feature="sex"}'] == pytest.approx(nulls / rows)
    assert seen['mlcd_feature_out_of_contract_rate{feature="bill_length_mm"}'] == pytest.approx(refused / rows)
    assert seen['mlcd_feature_out_of_contract_rate{feature="island"}'] == 0


def test_log_writer_stats_become_counters_that_only_grow_by_what_is_new() -> None:
    metrics = Metrics()
    metrics.logging_on()
    stats = [WriterStats(10, 2, 1, 0, 5, 1), WriterStats(30, 6, 1, 1, 20, 2), WriterStats(30, 6, 1, 1, 22, 3)]
    for step in stats:
        metrics.log_stats(step)
    seen = samples(metrics.render().decode())
    last = stats[-1]
    for outcome in LOG_OUTCOMES:
        assert seen[f'mlcd_prediction_log_rows_total{{outcome="{outcome}"}}'] == getattr(last, outcome)
    assert seen["mlcd_prediction_log_files_total"] == last.files
    assert seen["mlcd_prediction_log_queued"] == last.queued


WORKER = textwrap.dedent("""
    import sys
    from mlcd.serving.metrics import Metrics
    from mlcd.serving.validation import FeatureTally
    metrics = Metrics(["a", "b"])
    rows, nulls = int(sys.argv[1]), int(sys.argv[2])
    metrics.checked([FeatureTally("a", nulls, 0), FeatureTally("b", 0, 1)], rows)
    if len(sys.argv) > 3:
        print(metrics.render().decode())
""")


def test_with_several_workers_rates_are_over_all_their_rows(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}

    def worker(*args: str) -> str:
        done = subprocess.run([sys.executable, "-c", WORKER, *args], env=env, capture_output=True, text=True,
                              check=True)
        return done.stdout

    worker("10", "5")
    seen = samples(worker("30", "1", "render"))
    assert seen["mlcd_input_rows_total"] == 40
    assert seen['mlcd_feature_null_rate{feature="a"}'] == pytest.approx(6 / 40)  # not the mean of 0.5 and 1/30
    assert seen['mlcd_feature_out_of_contract_rate{feature="b"}'] == pytest.approx(2 / 40)


SIBLING = textwrap.dedent("""
    import sys, time
    from mlcd.serving.metrics import Metrics
    metrics = Metrics(["a"])  # writes this worker's metric files
    print("up", flush=True)
    sys.stdin.read()  # until the test closes stdin
""")

MB = 1024 * 1024


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process figures are read from /proc (Linux)")
def test_process_figures_add_up_the_live_sibling_workers(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    gone = subprocess.run([sys.executable, "-c", SIBLING], env=env, input="", capture_output=True, check=True)
    assert gone.stdout.startswith(b"up")  # a dead worker's files stay; its pid is no longer a sibling
    siblings = [subprocess.Popen([sys.executable, "-c", SIBLING], env=env, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE) for _ in range(2)]
    try:
        for sibling in siblings:
            assert sibling.stdout is not None and sibling.stdout.readline().startswith(b"up")
        seen = samples(subprocess.run([sys.executable, "-c", WORKER, "1", "0", "render"], env=env,
                                      capture_output=True, text=True, check=True).stdout)
    finally:
        for sibling in siblings:
            sibling.communicate(b"")
    assert seen["mlcd_worker_processes"] == 3  # the one answering and its two live siblings
    assert 3 * 10 * MB < seen["process_resident_memory_bytes"] < 3 * 4096 * MB
    assert 0 < seen["process_cpu_seconds_total"] < 600
    assert seen["process_open_fds"] >= 3 * 3


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process figures are read from /proc (Linux)")
def test_process_cpu_seconds_grow_with_work() -> None:
    metrics = Metrics()
    before = samples(metrics.render().decode())
    started = time.process_time()
    while time.process_time() - started < 0.3:
        sum(i * i for i in range(10_000))
    after = samples(metrics.render().decode())
    assert after["mlcd_worker_processes"] == 1
    assert after["process_cpu_seconds_total"] >= before["process_cpu_seconds_total"] + 0.2
    assert 10 * MB < after["process_resident_memory_bytes"] < 4096 * MB


def test_process_figures_leave_out_pids_that_are_not_siblings(tmp_path: Path) -> None:
    (tmp_path / "counter_1.db").touch()  # pid 1 is never our sibling
    (tmp_path / f"counter_{os.getpid()}.db").touch()
    (tmp_path / "not-a-metric-file").touch()
    assert worker_pids(str(tmp_path)) == [os.getpid()]
    assert worker_pids(None) == [os.getpid()]
    assert process_totals([], proc=str(tmp_path)) == []  # nothing read (not Linux, or every worker gone)


# --- sampling and the rows logged -----------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 1.0])
def test_rows_are_built_only_when_sampled_in_and_every_row_is_counted_once(tmp_path: Path, rate: float) -> None:
    built: list[int] = []

    def build(index: int) -> dict[str, Any]:
        built.append(index)
        return {"ts": "2024-05-01T12:00:00.000000Z", "i": index}

    with PredictionLogWriter(tmp_path, sample_rate=rate, seed=7, max_queue=100_000) as writer:
        queued = sum(writer.log_rows(100, build) for _ in range(50))
    stats = writer.stats()
    n = 5000
    assert queued == len(built) == stats.written
    assert stats.submitted == n and stats.written + stats.sampled_out == n
    spread = 5 * (n * rate * (1 - rate)) ** 0.5  # ± 5 standard deviations of a binomial
    assert abs(stats.written - n * rate) <= spread


def test_a_row_that_cannot_be_built_fails_alone(tmp_path: Path) -> None:
    def build(index: int) -> dict[str, Any]:
        if index == 1:
            raise KeyError("broken")
        return {"i": index}

    with PredictionLogWriter(tmp_path) as writer:
        assert writer.log_rows(3, build) == 2
    assert (writer.stats().failed, writer.stats().written) == (1, 2)


def test_logged_rows_carry_the_model_and_read_back_through_an_fsspec_url(schema: InputSchema) -> None:
    import fsspec

    url = "memory://mlcd-tests/prediction-log"
    logger = PredictionLogger(LogSettings(path=url), "penguins-classifier")
    columns = {name: [value, value] for name, value in ROW.items()}
    columns["sex"] = [None, "male"]
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    logger.log(version="abcdef123456", request_id=None, columns=columns, rows=2, labels=["Adelie", "Gentoo"],
               proba=proba, classes=["Adelie", "Chinstrap", "Gentoo"])
    logger.log(version="abcdef123456", request_id="client-1", columns=columns, rows=1, labels=["Adelie"])
    logger.close()
    try:
        fs = fsspec.filesystem("memory")
        (name,) = fs.ls("/mlcd-tests/prediction-log", detail=False)
        rows = [json.loads(line) for line in fs.cat(name).splitlines()]
        assert [r["prediction"] for r in rows] == ["Adelie", "Gentoo", "Adelie"]
        assert {r["model"] for r in rows} == {"penguins-classifier"}
        assert {r["model_version"] for r in rows} == {"abcdef123456"}
        assert rows[0]["request_id"] == rows[1]["request_id"] != rows[2]["request_id"] == "client-1"
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", r["ts"]) for r in rows)
        logged_at = datetime.fromisoformat(rows[0]["ts"].replace("Z", "+00:00"))
        assert abs(logged_at - datetime.now(timezone.utc)) < timedelta(seconds=30)
        assert (rows[1]["sex"], rows[1]["proba_Gentoo"]) == ("male", 0.8) and "proba_Gentoo" not in rows[2]
        fields: dict[str, FieldKind] = {"bill_length_mm": "number", "sex": "text", "prediction": "text"}
        frame = read_window(url, fields, Window()).frame
        assert frame["sex"].isna().tolist() == [True, False, True] and frame["sex"].iloc[1] == "male"
    finally:
        fsspec.filesystem("memory").rm("/mlcd-tests", recursive=True)


# --- settings ----------------------------------------------------------------------------------------------


def with_log(config: Config, **values: Any) -> Config:
    monitoring = dataclasses.replace(config.monitoring, prediction_log=PredictionLogConfig(**values))
    return dataclasses.replace(config, monitoring=monitoring)


def test_logging_is_off_unless_configured_and_flag_beats_env_beats_yaml(config: Config, tmp_path: Path) -> None:
    assert resolve_log_settings(with_log(config), {}) is None
    configured = with_log(config, path="logs", sample_rate=0.5, rotate_mb=1, rotate_minutes=5)
    from_yaml = resolve_log_settings(configured, {})
    assert from_yaml == LogSettings(path=str(config.root / "logs"), sample_rate=0.5, rotate_bytes=1 << 20,
                                    rotate_seconds=300)
    env = {"MLCD_PREDICTION_LOG": "/logs", "MLCD_LOG_SAMPLE_RATE": "0.25", "MLCD_LOG_ROTATE_MINUTES": "1"}
    from_env = resolve_log_settings(configured, env)
    assert from_env is not None
    assert (from_env.path, from_env.sample_rate, from_env.rotate_seconds) == ("/logs", 0.25, 60)
    from_flags = resolve_log_settings(configured, env, path="s3://bucket/logs", sample_rate=1.0)
    assert from_flags is not None and (from_flags.path, from_flags.sample_rate) == ("s3://bucket/logs", 1.0)
    assert resolve_log_settings(configured, {"MLCD_PREDICTION_LOG": "off"}) is None
    assert resolve_log_settings(configured, env, path="off") is None


@pytest.mark.parametrize(("env", "named"), [({"MLCD_LOG_SAMPLE_RATE": "1.5"}, "MLCD_LOG_SAMPLE_RATE"),
                                            ({"MLCD_LOG_SAMPLE_RATE": "most"}, "MLCD_LOG_SAMPLE_RATE"),
                                            ({"MLCD_LOG_ROTATE_MB": "0"}, "MLCD_LOG_ROTATE_MB")])
def test_a_bad_setting_names_where_it_came_from(config: Config, env: dict[str, str], named: str) -> None:
    with pytest.raises(UsageError, match=named):
        resolve_log_settings(config, {"MLCD_PREDICTION_LOG": "/logs", **env})


def test_an_unwritable_log_directory_is_refused_before_serving(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(UsageError, match="not writable") as refused:
        check_writable(str(tmp_path / "a-file" / "logs"))
    assert "MLCD_PREDICTION_LOG" in (refused.value.fix or "")
    check_writable(str(tmp_path / "new" / "logs"))
    assert list((tmp_path / "new" / "logs").iterdir()) == []  # the probe is gone


def test_workers_get_the_log_settings_mlcd_serve_resolved() -> None:
    settings = Settings(model_path="m.skops", config_path="mlcd.yaml",
                        prediction_log=LogSettings(path="/logs", sample_rate=0.1))
    assert Settings.from_env(settings.to_env()) == settings
    plain = Settings(model_path="m.skops", config_path="mlcd.yaml")
    assert Settings.from_env(plain.to_env()) == plain
