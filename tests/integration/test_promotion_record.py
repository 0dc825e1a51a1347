"""The promotion record in real git: tags written, pushed to a bare remote, read back by mlcd and by the
``gto`` CLI; the push race between two promoters; and the locks that keep promotions one at a time."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mlcd import record
from mlcd.errors import PromotionBusy
from mlcd.git import remote_auth
from mlcd.promotion import lock
from mlcd.record import History, Identity, NewTag
from testing.promotion import MODEL, commit, gto, make_project
from testing.repos import git

pytestmark = pytest.mark.integration

ME = Identity("Ada Lovelace", "ada@example.com")
DIGEST_1 = "sha256:" + "1" * 64
DIGEST_2 = "sha256:" + "2" * 64


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path, "version: 1\n")


def _promote(project: Path, version: str, commit_sha: str, stage: str, digest: str, *, register: bool,
             kind: str = "promote") -> list[str]:
    """What mlcd's promotion writes: maybe a registration, the old version's unassignment, the assignment."""
    history = History.read(project, MODEL)
    tags = []
    if register:
        tags.append(NewTag(record.registration_tag(MODEL, version), commit_sha, record.tag_message(
            record.summary_line("register", MODEL, version),
            {"version": version, "image": f"127.0.0.1:5000/m@{digest}", "digest": digest,
             "model_sha256": "c" * 64, "metrics": {"accuracy": 0.97}})))
    number = history.next_number()
    current = history.current(stage)
    if current is not None and current.version != version:
        tags.append(NewTag(record.unassignment_tag(MODEL, stage, number), current.commit, record.tag_message(
            record.summary_line("unassign", MODEL, str(current.version), stage), {"version": current.version})))
        number += 1
    tags.append(NewTag(record.assignment_tag(MODEL, stage, number), commit_sha, record.tag_message(
        record.summary_line("assign", MODEL, version, stage),
        {"kind": kind, "version": version, "digest": digest, "approver": "octocat",
         "run_url": "https://github.com/o/r/actions/runs/7", "metrics": {"accuracy": 0.97},
         "gates": [{"name": "accuracy ≥ 0.9", "verdict": "pass", "reason": "accuracy is 0.97"}]})))
    record.create_tags(project, tags, ME, history.latest_time())
    record.push_tags(project, "origin", [t.name for t in tags])
    return [t.name for t in tags]


def test_gto_reads_what_mlcd_writes(project: Path) -> None:
    first = commit(project, "model v1")
    second = commit(project, "model v2")
    _promote(project, "v1.0.0", first, "staging", DIGEST_1, register=True)
    _promote(project, "v1.0.0", first, "production", DIGEST_1, register=False)
    _promote(project, "v2.0.0", second, "staging", DIGEST_2, register=True)
    _promote(project, "v2.0.0", second, "production", DIGEST_2, register=False)
    written = _promote(project, "v1.0.0", first, "production", DIGEST_1, register=False, kind="rollback")
    assert written == [f"{MODEL}#production!#7", f"{MODEL}#production#8"]

    shown = gto(project, "show")[MODEL]
    assert shown["stage"] == {"staging": "v2.0.0", "production": "v1.0.0"}
    assert shown["version"] == "v2.0.0"

    events = gto(project, "history", MODEL)
    newest = events[0]
    assert (newest["event"], newest["version"], newest["stage"], newest["ref"]) == (
        "assignment", "v1.0.0", "production", f"{MODEL}#production#8")
    assert newest["author"] == "Ada Lovelace"
    summary, evidence = record.parse_message(newest["message"])
    assert summary == f"Assigning stage production to artifact {MODEL} version v1.0.0"
    assert evidence["digest"] == DIGEST_1 and evidence["approver"] == "octocat" and evidence["kind"] == "rollback"
    assert [e["event"] for e in events].count("unassignment") == 3

    history = History.read(project, MODEL)
    current = history.current("production")
    assert current is not None and current.version == "v1.0.0" and current.kind == "rollback"
    assert history.digest_of(current) == DIGEST_1
    assert current.who == "octocat"


def test_the_remote_holds_the_record_and_a_fresh_clone_reads_it(project: Path, tmp_path: Path) -> None:
    _promote(project, "v1.0.0", commit(project, "v1"), "staging", DIGEST_1, register=True)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-tags", str(tmp_path / "origin.git"), str(clone))
    assert History.read(clone, MODEL).events == ()
    record.fetch_tags(clone, "origin", MODEL)
    current = History.read(clone, MODEL).current("staging")
    assert current is not None and current.version == "v1.0.0"
    assert gto(clone, "show")[MODEL]["stage"] == {"staging": "v1.0.0"}


def test_of_two_promoters_numbering_the_same_tag_the_second_fails_cleanly(project: Path, tmp_path: Path) -> None:
    sha = commit(project, "v1")
    _promote(project, "v1.0.0", sha, "staging", DIGEST_1, register=True)
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(other))
    record.fetch_tags(other, "origin", MODEL)
    _promote(project, "v1.0.0", sha, "production", DIGEST_1, register=False)  # the first promoter wins

    history = History.read(other, MODEL)  # the second still sees the old numbering
    tag = NewTag(record.assignment_tag(MODEL, "production", history.next_number()), sha, "late\n")
    record.create_tags(other, [tag], ME, history.latest_time())
    with pytest.raises(record.PushRejected, match="refused the promotion tags") as raised:
        record.push_tags(other, "origin", [tag.name])
    assert raised.value.fix and "another promotion" in raised.value.fix
    remote_tag = git(tmp_path / "origin.git", "cat-file", "-p", tag.name)
    assert "Assigning stage production" in remote_tag  # the winner's record is intact


def test_one_promotion_per_environment_on_one_machine(project: Path) -> None:
    holder = {"actor": "ada", "version": "v1.0.0"}
    with lock.local_lock(project, MODEL, "production", holder):
        with pytest.raises(PromotionBusy, match="running on this machine") as raised, \
                lock.local_lock(project, MODEL, "production", {"actor": "bob"}):
            pass
        assert "v1.0.0 by ada" in raised.value.message
        with lock.local_lock(project, MODEL, "staging", {"actor": "bob"}):
            pass  # another environment is not blocked
    with lock.local_lock(project, MODEL, "production", {"actor": "bob"}):
        pass  # released


def test_one_promotion_per_environment_across_runners(project: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(other))
    ref = lock.lock_ref(MODEL, "production")
    with lock.remote_lock(project, "origin", MODEL, "production",
                          {"actor": "ada", "version": "v1.0.0", "run_url": "https://github.com/o/r/actions/runs/1"}):
        assert git(tmp_path / "origin.git", "for-each-ref", ref).strip()
        with pytest.raises(PromotionBusy, match=r"v1\.0\.0 by ada, https://github.com/o/r/actions/runs/1") as raised, \
                lock.remote_lock(other, "origin", MODEL, "production", {"actor": "bob"}):
            pass
        assert raised.value.fix and f"git push origin --delete {ref}" in raised.value.fix
    assert not git(tmp_path / "origin.git", "for-each-ref", ref).strip()
    with lock.remote_lock(other, "origin", MODEL, "production", {"actor": "bob"}):
        pass


def test_a_stale_remote_lock_is_taken_over(project: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(other))
    entered = threading.Event()
    release = threading.Event()

    def dead_runner() -> None:
        with lock.remote_lock(project, "origin", MODEL, "production", {"actor": "ada"}):
            entered.set()
            release.wait(10)

    runner = threading.Thread(target=dead_runner)
    runner.start()
    try:
        assert entered.wait(10)
        with lock.remote_lock(other, "origin", MODEL, "production", {"actor": "bob"}, stale_after=-1):
            holder = git(tmp_path / "origin.git", "log", "-1", "--format=%B", lock.lock_ref(MODEL, "production"))
            assert '"actor": "bob"' in holder
    finally:
        release.set()
        runner.join()


def test_on_github_the_token_pushes_without_persisted_credentials(project: Path) -> None:
    """A checkout made with `persist-credentials: false` pushes the record with GITHUB_TOKEN, passed to git
    in its environment only; a checkout that has credentials, or a remote elsewhere, is left alone."""
    import base64

    env = {"GITHUB_TOKEN": "t0ken", "GITHUB_SERVER_URL": "https://github.com"}
    assert remote_auth(project, "origin", env) == {}  # origin is a local path
    git(project, "remote", "add", "github", "https://github.com/acme/penguins.git")
    auth = remote_auth(project, "github", env)
    assert auth["GIT_CONFIG_KEY_0"] == "http.https://github.com/.extraheader"
    assert auth["GIT_CONFIG_VALUE_0"] == "AUTHORIZATION: basic " + base64.b64encode(b"x-access-token:t0ken").decode()
    assert remote_auth(project, "github", {}) == {}
    git(project, "config", "http.https://github.com/.extraheader", "AUTHORIZATION: basic persisted")
    assert remote_auth(project, "github", env) == {}
