"""The promotion record: what runs in each environment, and its history, as git tags in GTO's conventions.

========================================  ===========================================================
``<model>@v<semver>``                     registers a version: one image digest, built from this commit
``<model>#<environment>#<n>``             assigns a version to an environment: a promotion or rollback
``<model>#<environment>!#<n>``            unassigns the version that left the environment
========================================  ===========================================================

Every tag is annotated. Its message is what ``gto`` itself would write (GTO keeps messages as free text
and shows them in ``gto history``), then a blank line, then mlcd's evidence as a YAML mapping that starts
with ``mlcd: 1``: the image digest, the model's sha256, metrics, gate verdicts, approver and run URL.
``n`` counts every stage tag of the model, as GTO counts it, so the newest record is the largest ``n``.

Promotion tags are written with ``git tag`` and pushed atomically; tag names are made and parsed with
GTO's own helpers, and ``gto show`` / ``gto history`` read the result.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import yaml

from mlcd import git
from mlcd.errors import ConfigError, ToolFailed, UsageError

Action = Literal["register", "assign", "unassign"]
FORMAT = 1
_FIELD, _RECORD = "\x1f", "\x1e"
_FORMAT = _FIELD.join(["%(refname:strip=2)", "%(objecttype)", "%(*objectname)", "%(taggername)", "%(taggeremail)",
                       "%(taggerdate:unix)", "%(contents)"]).replace(_FIELD, "%1f") + "%1e"


# --- names ------------------------------------------------------------------------------------------


def check_model_name(model: str) -> None:
    from gto.constants import fullname_re

    if not fullname_re.match(model):
        raise ConfigError(
            f"model.name '{model}' cannot name a GTO artifact: promotion tags need letters, digits, '-' and '_', "
            "starting and ending with a letter or digit",
            fix="rename the model in mlcd.yaml (e.g. replace '.' with '-')",
        )


def check_stage_name(stage: str) -> None:
    from gto.constants import check_string_is_valid

    if not check_string_is_valid(stage):  # type: ignore[no-untyped-call]
        raise ConfigError(f"environment '{stage}' cannot be a GTO stage name",
                          fix="use letters, digits, '-' and '_', starting and ending with a letter or digit")


def normalise_version(text: str) -> str:
    """``1.2.0`` or ``v1.2.0`` → ``v1.2.0``; anything that is not semantic versioning is refused."""
    from gto.versions import SemVer

    version = text if text.startswith("v") else f"v{text}"
    if not SemVer.is_valid(version):  # type: ignore[no-untyped-call]
        raise UsageError(f"'{text}' is not a version like v1.2.0", fix="give a semantic version, e.g. v1.2.0")
    return version


def _tag_name(action: Action, model: str, *, version: str | None = None, stage: str | None = None,
              cancel: bool = False) -> str:
    from gto.constants import Action as GtoAction
    from gto.tag import name_tag

    if action == "register":
        return str(name_tag(GtoAction.REGISTER, model, version=version, simple=True))
    kind = GtoAction.UNASSIGN if cancel else GtoAction.ASSIGN
    return str(name_tag(kind, model, stage=stage, simple=True))


def registration_tag(model: str, version: str) -> str:
    return _tag_name("register", model, version=version)


def assignment_tag(model: str, stage: str, number: int) -> str:
    return f"{_tag_name('assign', model, stage=stage)}#{number}"


def unassignment_tag(model: str, stage: str, number: int) -> str:
    return f"{_tag_name('unassign', model, stage=stage, cancel=True)}#{number}"


@dataclass(frozen=True)
class TagName:
    action: Action
    model: str
    version: str | None = None
    stage: str | None = None
    number: int | None = None


def parse_tag_name(tag: str) -> TagName | None:
    """A GTO tag name's parts; None for any other tag (and for GTO's deprecation tags)."""
    from gto.constants import COUNTER, NAME, STAGE, VERSION
    from gto.constants import Action as GtoAction
    from gto.tag import parse_name

    parsed = parse_name(tag, raise_on_fail=False)
    actions: dict[Any, Action] = {GtoAction.REGISTER: "register", GtoAction.ASSIGN: "assign",
                                  GtoAction.UNASSIGN: "unassign"}
    if not parsed or parsed.get("action") not in actions:
        return None
    return TagName(actions[parsed["action"]], parsed[NAME], parsed.get(VERSION), parsed.get(STAGE),
                   parsed.get(COUNTER))


# --- messages ---------------------------------------------------------------------------------------


def summary_line(action: Action, model: str, version: str, stage: str | None = None) -> str:
    """The sentence GTO itself writes for the action, so ``gto history`` reads the same for both tools."""
    if action == "register":
        return f"Registering artifact {model} version {version}"
    if action == "assign":
        return f"Assigning stage {stage} to artifact {model} version {version}"
    return f"Unassigning stage '{stage}' to artifact '{model}' version '{version}'"


def tag_message(summary: str, data: Mapping[str, Any]) -> str:
    body = yaml.safe_dump({"mlcd": FORMAT, **data}, sort_keys=False, allow_unicode=True, width=1000)
    return f"{summary}\n\n{body}"


def parse_message(message: str) -> tuple[str, dict[str, Any]]:
    """(summary, evidence) of a tag message; evidence is empty for tags mlcd did not write."""
    summary, _, rest = message.strip().partition("\n\n")
    try:
        data = yaml.safe_load(rest) if rest.strip() else None
    except yaml.YAMLError:
        data = None
    if not isinstance(data, dict) or data.get("mlcd") != FORMAT:
        return summary.strip(), {}
    data.pop("mlcd")
    return summary.strip(), data


# --- reading ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    tag: str
    action: Action
    model: str
    commit: str
    created: datetime
    tagger: str
    tagger_email: str
    summary: str
    data: Mapping[str, Any] = field(default_factory=dict)
    version: str | None = None
    stage: str | None = None
    number: int | None = None

    @property
    def digest(self) -> str | None:
        return _text(self.data.get("digest"))

    @property
    def image(self) -> str | None:
        return _text(self.data.get("image"))

    @property
    def model_sha256(self) -> str | None:
        return _text(self.data.get("model_sha256"))

    @property
    def metrics(self) -> dict[str, float]:
        raw = self.data.get("metrics")
        if not isinstance(raw, dict):
            return {}
        return {str(k): float(v) for k, v in raw.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

    @property
    def kind(self) -> str:
        return _text(self.data.get("kind")) or ("register" if self.action == "register" else "promote")

    @property
    def who(self) -> str:
        return _text(self.data.get("approver")) or _text(self.data.get("actor")) or self.tagger

    @property
    def run_url(self) -> str | None:
        return _text(self.data.get("run_url"))


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _patterns(model: str) -> list[str]:
    from gto.constants import name_to_tag

    tagged = name_to_tag(model)  # type: ignore[no-untyped-call]
    return [f"refs/tags/{tagged}@*", f"refs/tags/{tagged}#*"]


def read_events(root: Path, model: str) -> list[Event]:
    """Every GTO tag of ``model`` in the repository, oldest first."""
    listed = git.run(root, "for-each-ref", f"--format={_FORMAT}", *_patterns(model)).stdout
    events = []
    for record in listed.split(_RECORD):
        fields = record.lstrip("\n").split(_FIELD)
        if len(fields) != 7:
            continue
        tag, kind, peeled, tagger, email, when, message = fields
        name = parse_tag_name(tag)
        if kind != "tag" or name is None or name.model != model:
            continue  # GTO ignores lightweight tags too
        summary, data = parse_message(message)
        version = name.version or _text(data.get("version"))
        events.append(Event(tag, name.action, model, peeled, datetime.fromtimestamp(int(when or 0), timezone.utc),
                            tagger, email.strip("<>"), summary, data, version, name.stage, name.number))
    return _ordered(events, versions_by_commit(events))


def versions_by_commit(events: Iterable[Event]) -> dict[str, str]:
    return {e.commit: e.version for e in events if e.action == "register" and e.version}


def _ordered(events: list[Event], by_commit: Mapping[str, str]) -> list[Event]:
    """Oldest first; a stage tag without mlcd's evidence gets its version from its commit, as GTO does."""
    filled = [e if e.version or e.action == "register" else _with_version(e, by_commit.get(e.commit))
              for e in events]
    return sorted(filled, key=lambda e: (e.created, e.number if e.number is not None else -1, e.tag))


def _with_version(event: Event, version: str | None) -> Event:
    from dataclasses import replace

    return replace(event, version=version)


@dataclass(frozen=True)
class History:
    """A model's promotion record, read from its tags; pure queries, no git."""

    model: str
    events: tuple[Event, ...]

    @classmethod
    def read(cls, root: Path, model: str) -> History:
        return cls(model, tuple(read_events(root, model)))

    def registrations(self) -> list[Event]:
        return [e for e in self.events if e.action == "register"]

    def version(self, name: str) -> Event | None:
        return next((e for e in self.registrations() if e.version == name), None)

    def version_at(self, commit: str) -> Event | None:
        return next((e for e in self.registrations() if e.commit == commit), None)

    def by_digest(self, digest: str) -> Event | None:
        return next((e for e in self.registrations() if e.digest == digest), None)

    def stage_events(self, stage: str) -> list[Event]:
        return [e for e in self.events if e.stage == stage and e.action in ("assign", "unassign")]

    def current(self, stage: str) -> Event | None:
        """The assignment that says what runs in ``stage`` now; None if nothing was promoted there."""
        current: Event | None = None
        for event in self.stage_events(stage):
            if event.action == "assign":
                current = event
            elif current is not None and event.version == current.version:
                current = None
        return current

    def promotions(self, stage: str) -> list[Event]:
        return [e for e in self.stage_events(stage) if e.action == "assign"]

    def previous(self, stage: str) -> Event | None:
        """The newest assignment to ``stage`` of a version other than the current one: what a rollback restores."""
        current = self.current(stage)
        for event in reversed(self.promotions(stage)):
            if current is None or event.version != current.version:
                return event
        return None

    def was_in(self, stage: str, version: str) -> bool:
        return any(e.version == version for e in self.promotions(stage))

    def digest_of(self, event: Event) -> str | None:
        """An assignment's digest: from its own evidence, else from its version's registration."""
        if event.digest:
            return event.digest
        registered = self.version(event.version) if event.version else None
        return registered.digest if registered else None

    def next_number(self) -> int:
        return max((e.number for e in self.events if e.number is not None), default=0) + 1

    def next_version(self) -> str:
        """GTO's rule for an unnamed registration: the greatest version's next patch, or v0.0.1."""
        from gto.versions import SemVer

        versions = [SemVer(e.version) for e in self.registrations()
                    if e.version and SemVer.is_valid(e.version)]  # type: ignore[no-untyped-call]
        if not versions:
            return str(SemVer.get_minimal().version)  # type: ignore[no-untyped-call]
        return str(max(versions).bump_patch().version)  # type: ignore[no-untyped-call]

    def latest_time(self) -> int:
        return max((int(e.created.timestamp()) for e in self.events), default=0)


# --- writing ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    name: str
    email: str

    @classmethod
    def detect(cls, root: Path, env: Mapping[str, str]) -> Identity:
        """On GitHub Actions the user who started the run; elsewhere git's configured user."""
        actor = env.get("GITHUB_ACTOR")
        if actor:
            actor_id = env.get("GITHUB_ACTOR_ID")
            local = f"{actor_id}+{actor}" if actor_id else actor
            return cls(actor, f"{local}@users.noreply.github.com")
        name = git.run(root, "config", "user.name", check=False).stdout.strip()
        email = git.run(root, "config", "user.email", check=False).stdout.strip()
        return cls(name or "mlcd", email or "mlcd@localhost")


@dataclass(frozen=True)
class NewTag:
    name: str
    commit: str
    message: str


def create_tags(root: Path, tags: Sequence[NewTag], tagger: Identity, not_before: int = 0) -> None:
    """Annotated tags, each dated at least a second after the one before: GTO orders by tag date (seconds)."""
    when = max(int(time.time()), not_before + 1)
    made: list[str] = []
    try:
        for tag in tags:
            env = {"GIT_COMMITTER_NAME": tagger.name, "GIT_COMMITTER_EMAIL": tagger.email,
                   "GIT_COMMITTER_DATE": f"{when} +0000"}
            git.run(root, "tag", "--annotate", "--cleanup=verbatim", "--file=-", tag.name, tag.commit,
                    env=env, input_text=tag.message)
            made.append(tag.name)
            when += 1
    except ToolFailed:
        delete_local_tags(root, made)
        raise


def delete_local_tags(root: Path, names: Iterable[str]) -> None:
    names = list(names)
    if names:
        git.run(root, "tag", "--delete", *names, check=False)


class PushRejected(ToolFailed):
    """The remote refused the promotion tags: another promotion recorded first, or no access."""


def push_tags(root: Path, remote: str, names: Sequence[str]) -> None:
    """All or nothing (``--atomic``); never overwrites a tag that exists on the remote."""
    if not names:
        return
    refs = [f"refs/tags/{name}:refs/tags/{name}" for name in names]
    result = git.run_remote(root, remote, "push", "--atomic", "--porcelain", remote, *refs, check=False)
    if result.returncode != 0:
        said = " ".join((result.stderr or result.stdout).split())
        raise PushRejected(
            f"`git push {remote}` refused the promotion tags {', '.join(names)}: {said}",
            fix="another promotion of this model was recorded first (fetch the tags and retry), or the job "
                "cannot push: give it `permissions: {contents: write}` and a checkout that can push",
        )


def check_repository(root: Path, remote: str | None, config_source: str) -> None:
    """The promotion record lives in git tags: ``root`` must be a git work tree, and ``remote`` (when the
    record is pushed) one of its remotes. Checked before anything is fetched, locked or deployed."""
    inside = git.run(root, "rev-parse", "--is-inside-work-tree", check=False)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        raise UsageError(f"{root} is not in a git repository: mlcd records what runs where as git tags",
                         fix="run mlcd in a clone of your model's repository")
    if remote is None:
        return
    remotes = git.run(root, "remote", check=False).stdout.split()
    if remote not in remotes:
        listed = ", ".join(remotes) or "none"
        raise ConfigError(f"deploy.remote '{remote}' is not a remote of this repository (its remotes: {listed})",
                          fix=f"`git remote add {remote} URL`, set deploy.remote, or set deploy.push: false in "
                              f"{config_source} to keep the record local")


def fetch_tags(root: Path, remote: str, model: str) -> None:
    """The remote's promotion tags for ``model``, so numbering and the current version are the remote's."""
    from gto.constants import name_to_tag

    tagged = name_to_tag(model)  # type: ignore[no-untyped-call]
    specs = [f"+refs/tags/{tagged}@*:refs/tags/{tagged}@*", f"+refs/tags/{tagged}#*:refs/tags/{tagged}#*"]
    result = git.run_remote(root, remote, "fetch", "--quiet", "--no-tags", remote, *specs, check=False)
    if result.returncode != 0:
        raise ToolFailed(
            f"cannot fetch the promotion tags from '{remote}': {' '.join(result.stderr.split())}",
            fix="check the remote (git remote -v), or set deploy.push: false in mlcd.yaml to keep the record local",
        )
