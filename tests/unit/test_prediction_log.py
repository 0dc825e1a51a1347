"""The prediction log: the writer (bounded, non-blocking, thread-safe, rotating, sampling) and the reader."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest

from mlcd.errors import InputError, UsageError
from mlcd.monitoring.log_reader import FieldKind, Window, list_logs, parse_duration, read_window, resolve_window
from mlcd.monitoring.log_writer import FILE_NAME, PredictionLogWriter, WriterStats, log_file_name, make_row

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
FIELDS: dict[str, FieldKind] = {"x": "number", "colour": "text", "flag": "bool", "prediction": "text"}


def row(i: int, ts: datetime | None = None, **features: Any) -> dict[str, Any]:
    values = {"x": float(i), "colour": ["red", "green"][i % 2], "flag": i % 3 == 0, **features}
    return make_row(model="m", model_version="abc123", request_id=f"r{i}", features=values,
                    prediction="yes" if i % 2 else "no", probabilities={"no": 0.25, "yes": 0.75},
                    ts=ts or T0 + timedelta(seconds=i))


def lines(directory: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(directory.iterdir()):
        raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        found += [json.loads(line) for line in raw.splitlines()]
    return found


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def writers() -> Iterator[list[PredictionLogWriter]]:
    """Writers a test makes are closed after it, even when it fails."""
    made: list[PredictionLogWriter] = []
    yield made
    for writer in made:
        writer.close()


def test_make_row_is_flat_with_the_reserved_fields_around_the_features() -> None:
    assert row(1) == {"ts": "2024-05-01T12:00:01.000000Z", "model": "m", "model_version": "abc123",
                      "request_id": "r1", "x": 1.0, "colour": "green", "flag": False, "prediction": "yes",
                      "proba_no": 0.25, "proba_yes": 0.75}


def test_rows_round_trip_through_the_files(tmp_path: Path) -> None:
    with PredictionLogWriter(tmp_path) as writer:
        for i in range(50):
            assert writer.log(row(i))
    stats = writer.stats()
    assert stats == WriterStats(submitted=50, sampled_out=0, dropped=0, failed=0, written=50, files=1)
    (name,) = [p.name for p in tmp_path.iterdir()]
    assert FILE_NAME.match(name)
    assert lines(tmp_path) == [row(i) for i in range(50)]
    frame = read_window(str(tmp_path), FIELDS, Window()).frame
    assert list(frame.columns) == ["ts", "x", "colour", "flag", "prediction"]
    assert frame["x"].tolist() == [float(i) for i in range(50)]
    assert frame["ts"].iloc[0] == T0


def test_a_full_queue_drops_rows_instead_of_blocking(tmp_path: Path, writers: list[PredictionLogWriter]) -> None:
    writer = PredictionLogWriter(tmp_path, max_queue=10, batch_rows=1)
    writers.append(writer)
    release = threading.Event()
    original = writer._write

    def stuck(batch: list[Mapping[str, Any]]) -> None:
        release.wait()
        original(batch)

    writer._write = stuck  # type: ignore[method-assign]  # a disk that hangs
    started = time.perf_counter()
    accepted = [writer.log(row(i)) for i in range(1000)]
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"log() blocked for {elapsed:.2f} s"
    stats = writer.stats()
    assert stats.submitted == 1000 and 10 <= accepted.count(True) <= 11 and stats.dropped == accepted.count(False)
    release.set()
    writer.close()
    stats = writer.stats()
    assert stats.written == accepted.count(True) and stats.queued == 0
    assert len(lines(tmp_path)) == stats.written


def test_many_threads_log_at_once_and_every_row_lands_once(tmp_path: Path) -> None:
    with PredictionLogWriter(tmp_path, max_queue=100_000, batch_rows=64) as writer:
        def work(offset: int) -> None:
            for i in range(2000):
                writer.log(row(offset + i))

        threads = [threading.Thread(target=work, args=(t * 10_000,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert writer.stats().written == 16_000
    ids = [r["request_id"] for r in lines(tmp_path)]
    assert len(ids) == len(set(ids)) == 16_000


def test_files_rotate_by_size(tmp_path: Path) -> None:
    with PredictionLogWriter(tmp_path, batch_rows=5, rotate_bytes=2_000) as writer:
        for i in range(200):
            writer.log(row(i))
    files = sorted(tmp_path.iterdir())
    assert len(files) > 5 and writer.stats().files == len(files)
    one_batch = 5 * max(len(json.dumps(row(i))) + 1 for i in range(200))
    assert all(f.stat().st_size < 2_000 + one_batch for f in files)
    assert sorted(r["request_id"] for r in lines(tmp_path)) == sorted(f"r{i}" for i in range(200))


def test_files_rotate_by_time_and_are_named_after_when_they_opened(tmp_path: Path,
                                                                   writers: list[PredictionLogWriter]) -> None:
    now = [T0.timestamp()]
    writer = PredictionLogWriter(tmp_path, rotate_seconds=60, poll_seconds=0.01, clock=lambda: now[0])
    writers.append(writer)
    writer.log(row(1))
    wait_for(lambda: writer.stats().written == 1)
    now[0] += 61
    wait_for(lambda: writer._file is None)  # closed when idle past its age
    writer.log(row(2))
    writer.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["predictions-20240501-120000-0.jsonl", "predictions-20240501-120101-1.jsonl"]


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    taken = tmp_path / log_file_name(T0, 0)
    taken.write_text("someone else's\n")
    with PredictionLogWriter(tmp_path, clock=T0.timestamp) as writer:
        writer.log(row(1))
    assert taken.read_text() == "someone else's\n"
    assert (tmp_path / log_file_name(T0, 1)).is_file()


def test_sampling_keeps_about_the_rate_and_counts_the_rest(tmp_path: Path) -> None:
    with PredictionLogWriter(tmp_path, sample_rate=0.25, seed=1, max_queue=10_000) as writer:
        for i in range(4000):
            writer.log(row(i))
    stats = writer.stats()
    assert 850 <= stats.written <= 1150  # 1000 ± 5 standard deviations
    assert stats.written + stats.sampled_out == 4000
    with PredictionLogWriter(tmp_path / "none", sample_rate=0.0) as nothing:
        assert not nothing.log(row(1))
    assert list((tmp_path / "none").iterdir()) == []
    with pytest.raises(ValueError, match="sample_rate"):
        PredictionLogWriter(tmp_path, sample_rate=1.5)


def test_compressed_files_are_readable_while_they_grow(tmp_path: Path, writers: list[PredictionLogWriter]) -> None:
    writer = PredictionLogWriter(tmp_path, compress=True, batch_rows=10, poll_seconds=0.01)
    writers.append(writer)
    for i in range(25):
        writer.log(row(i))
    wait_for(lambda: writer.stats().written == 25)
    (path,) = tmp_path.iterdir()
    assert path.name.endswith(".jsonl.gz")
    with path.open("ab") as handle:  # a batch cut off mid-write
        handle.write(gzip.compress(json.dumps(row(99)).encode())[:20])
    log = read_window(str(tmp_path), FIELDS, Window())  # the file is still open for writing
    assert len(log.frame) == 25


def test_values_json_does_not_know_are_written_or_counted_as_failed(tmp_path: Path) -> None:
    with PredictionLogWriter(tmp_path) as writer:
        writer.log(row(1, x=np.float32(1.5), n=np.int64(7)))
        writer.log(row(2, x=float("nan"), y=np.float32("inf")))
        writer.log(row(3, x=object()))
    assert writer.stats().failed == 1 and writer.stats().written == 2
    first, second = lines(tmp_path)
    assert (first["x"], first["n"]) == (1.5, 7)
    assert (second["x"], second["y"]) == (None, None)


def test_rows_after_close_are_dropped(tmp_path: Path) -> None:
    writer = PredictionLogWriter(tmp_path)
    writer.close()
    writer.close()
    assert not writer.log(row(1))
    assert writer.stats().dropped == 1


# --- reader -------------------------------------------------------------------------------------------


def write_file(directory: Path, opened: datetime, n: int, rows: list[dict[str, Any]], tail: str = "") -> Path:
    path = directory / log_file_name(opened, n)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail, encoding="utf-8")
    return path


def test_a_time_window_is_half_open_and_skips_files_that_cannot_hold_it(tmp_path: Path) -> None:
    for hour in range(5):
        opened = T0 + timedelta(hours=hour)
        write_file(tmp_path, opened, hour, [row(i, opened + timedelta(minutes=10 * i)) for i in range(6)])
    window = Window(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2, minutes=30))
    log = read_window(str(tmp_path), FIELDS, window)
    assert log.frame["ts"].min() == T0 + timedelta(hours=1)
    assert log.frame["ts"].max() == T0 + timedelta(hours=2, minutes=20)
    assert len(log.frame) == 9
    assert log.files_total == 5
    assert [Path(p).name for p in log.files_read][-1] == "predictions-20240501-140000-2.jsonl"  # not 15:00, 16:00


def test_the_last_n_rows_come_from_the_newest_files(tmp_path: Path) -> None:
    for hour in range(4):
        opened = T0 + timedelta(hours=hour)
        write_file(tmp_path, opened, hour, [row(i, opened + timedelta(minutes=i)) for i in range(10)])
    log = read_window(str(tmp_path), FIELDS, Window(last=15))
    assert len(log.frame) == 15
    assert log.frame["ts"].iloc[-1] == T0 + timedelta(hours=3, minutes=9)
    assert log.frame["ts"].is_monotonic_increasing


def test_a_partial_last_line_is_left_out_and_counted(tmp_path: Path) -> None:
    write_file(tmp_path, T0, 0, [row(1), row(2)], tail='{"ts": "2024-05-01T12:00:03Z", "x": 3')
    log = read_window(str(tmp_path), FIELDS, Window())
    assert len(log.frame) == 2 and log.incomplete_lines == 1


@pytest.mark.parametrize(("text", "message"), [
    ('{"ts": "2024-05-01T12:00:00Z", "x": 1}\n{"ts": "2024-05-01T12:00:01Z", "x": }\n',
     ":2: bad prediction log row: not valid JSON: Expecting value at column 37"),
    ('{"ts": "2024-05-01T12:00:00Z", "x": 1}\n[1, 2]\n', ":2: bad prediction log row: a JSON array, not an object"),
    ('{"ts": "2024-05-01T12:00:00Z", "x": 1}\n\n{"ts": "2024-05-01T12:00:01Z", "x": "12,5"}\n',
     ":3: bad prediction log row: 'x' is \"12,5\" (string), expected a number"),
    ('{"ts": "2024-05-01T12:00:00Z", "x": 1}\n{"x": 2}\n', ":2: bad prediction log row: no 'ts'"),
    ('{"ts": "yesterday", "x": 1}\n', ":1: bad prediction log row: 'ts' is \"yesterday\", not an ISO 8601 time"),
    ('{"ts": "2024-05-01T12:00:00Z", "flag": "yes"}\n',
     ":1: bad prediction log row: 'flag' is \"yes\" (string), expected true or false"),
])
def test_a_bad_line_is_named_with_its_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / log_file_name(T0, 0)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_window(str(tmp_path), FIELDS, Window())
    assert caught.value.one_line().startswith(str(path) + message)
    assert "docs/monitoring.md" in caught.value.one_line()


def test_logs_are_read_from_an_fsspec_url() -> None:
    fs = fsspec.filesystem("memory")
    body = "".join(json.dumps(row(i)) + "\n" for i in range(5)).encode()
    fs.pipe(f"/mlcd-test-logs/{log_file_name(T0, 0)}", body)
    fs.pipe("/mlcd-test-logs/README.txt", b"not a log")
    try:
        log = read_window("memory://mlcd-test-logs", FIELDS, Window(last=3))
    finally:
        fs.rm("/mlcd-test-logs", recursive=True)
    assert log.frame["x"].tolist() == [2.0, 3.0, 4.0]
    assert log.files_total == 1


def test_missing_or_empty_log_locations_say_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(InputError) as missing:
        list_logs(str(tmp_path / "nowhere"))
    assert "nowhere do not exist (fix: pass the directory the server writes its logs to" in missing.value.one_line()
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match=r"no file is named predictions-YYYYMMDD-HHMMSS-N\.jsonl"):
        list_logs(str(tmp_path))


def test_windows_resolve_from_options_and_the_configured_duration() -> None:
    now = T0
    assert resolve_window(None, None, 100, "7d", now) == Window(last=100)
    assert resolve_window(None, None, None, None, now) == Window()
    assert resolve_window(None, None, None, "24h", now) == Window(since=now - timedelta(hours=24), until=now)
    assert resolve_window("2024-04-30T00:00:00", None, None, None, now) == Window(
        since=datetime(2024, 4, 30, tzinfo=timezone.utc), until=now)
    assert resolve_window(None, "2024-05-01T06:00:00+02:00", None, "2h", now) == Window(
        since=datetime(2024, 5, 1, 2, tzinfo=timezone.utc), until=datetime(2024, 5, 1, 4, tzinfo=timezone.utc))
    assert parse_duration("90m") == timedelta(minutes=90) and parse_duration("2w") == timedelta(days=14)
    with pytest.raises(UsageError, match="cannot be combined"):
        resolve_window("2024-05-01", None, 10, None, now)
    with pytest.raises(UsageError, match="--since 'last tuesday' is not an ISO 8601 time"):
        resolve_window("last tuesday", None, None, None, now)
    with pytest.raises(UsageError, match="window is empty"):
        resolve_window("2024-05-02", "2024-05-01", None, None, now)
    with pytest.raises(UsageError, match="not a duration"):
        parse_duration("1 day")
