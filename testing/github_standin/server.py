"""A local stand-in for the GitHub REST API, for tests: in-memory state, faults on demand, and every
request and response checked against GitHub's official OpenAPI description.

Each endpoint is one handler registered with ``@route(METHOD, "/path/{template}", "operation-id", …)``,
using the template and operationId exactly as GitHub's description spells them; adding an endpoint
(issues, deployments, environments, workflow dispatches) is adding one such function.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from .openapi import Call, GitHubOpenAPI

DOCS = "https://docs.github.com/rest"
ACTIONS_BOT = "github-actions[bot]"
DEFAULT_PERMISSIONS = {"contents": "read", "pull-requests": "write", "issues": "write", "checks": "write",
                       "statuses": "write"}
_MESSAGES = {401: "Bad credentials", 403: "Resource not accessible by integration", 404: "Not Found",
             422: "Validation Failed", 429: "API rate limit exceeded", 500: "Server Error", 502: "Bad Gateway",
             503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass
class Fault:
    """Answer the next ``times`` calls of ``operation`` (an operationId; None: any call) with ``status``;
    ``carried_out``: the call is done first, only its answer is the fault's (GitHub acted, the answer was lost)."""

    status: int
    times: int = 1
    operation: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    carried_out: bool = False


@dataclass(frozen=True)
class Recorded:
    call: Call
    operation: str | None
    status: int
    response: Any


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    def __init__(self, status: int, message: str | None = None, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message or _MESSAGES.get(status, "Error")
        self.errors = errors


@dataclass
class Request:
    """What a handler gets: path parameters, query, parsed JSON body, and the stand-in."""

    standin: GitHubStandin
    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any
    path: str

    def repository(self) -> Repository:
        full_name = f"{self.params['owner']}/{self.params['repo']}"
        try:
            return self.standin.repositories[full_name]
        except KeyError:
            raise ApiError(404) from None

    def int_param(self, name: str) -> int:
        return int(self.params[name])

    def query_int(self, name: str, default: int) -> int:
        values = self.query.get(name)
        return int(values[0]) if values else default


Handler = Callable[[Request], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    operation_id: str
    permission: tuple[str, ...]  # any one of these "scope:level" grants is enough
    handler: Handler

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template)) + "$")


ROUTES: list[Route] = []


def route(method: str, template: str, operation_id: str, *permission: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, template, operation_id, permission, handler))
        return handler
    return register


@dataclass
class StoredComment:
    id: int
    issue_number: int
    body: str
    user: str
    created_at: str
    updated_at: str


@dataclass
class Repository:
    full_name: str
    pull_requests: dict[int, str] = field(default_factory=dict)  # number → head SHA
    comments: dict[int, StoredComment] = field(default_factory=dict)
    check_runs: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    # promotion: deployments and their statuses (newest last), environments, branch policies, pulls
    deployments: dict[int, dict[str, Any]] = field(default_factory=dict)
    deployment_statuses: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    branch_policies: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    run_approvals: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    # monitoring: issues (number → stored fields), labels (name → label), workflow dispatches (in order)
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    dispatches: list[dict[str, Any]] = field(default_factory=list)
    workflows: dict[str, list[str]] = field(default_factory=dict)  # file name → its workflow_dispatch inputs

    def issue_comments(self, number: int) -> list[StoredComment]:
        return [c for c in self.comments.values() if c.issue_number == number]


class GitHubStandin:
    """Serves on ``http://127.0.0.1:<free port><prefix>``; ``prefix="/api/v3"`` looks like GitHub Enterprise."""

    def __init__(self, openapi: GitHubOpenAPI, *, token: str = "standin-token", prefix: str = "") -> None:
        self.openapi = openapi
        self.token = token
        self.prefix = prefix.rstrip("/")
        self.permissions = dict(DEFAULT_PERMISSIONS)
        self.repositories: dict[str, Repository] = {}
        self.requests: list[Recorded] = []
        self.validation_errors: list[str] = []
        self.faults: list[Fault] = []
        self.users: dict[str, int] = {}  # login → id, for users/get-by-username
        self.teams: dict[str, int] = {}  # "org/slug" → id, for teams/get-by-name
        self._ids = itertools.count(1001)
        self.lock = threading.RLock()
        self._routes = sorted(ROUTES, key=lambda r: r.template.count("{"))
        for known in self._routes:
            documented = openapi.operation_id(known.method, known.template)
            if documented != known.operation_id:
                raise ValueError(f"{known.method} {known.template} is {documented!r} in GitHub's description, "
                                 f"not {known.operation_id!r}")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.prefix}"

    def start(self) -> GitHubStandin:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="github-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    # State that tests set up and inspect directly.

    def add_repository(self, full_name: str) -> Repository:
        with self.lock:
            return self.repositories.setdefault(full_name, Repository(full_name))

    def add_pull_request(self, full_name: str, number: int, head_sha: str) -> None:
        self.add_repository(full_name).pull_requests[number] = head_sha

    def add_workflow(self, full_name: str, file_name: str, inputs: list[str] | None = None) -> None:
        """A workflow with a ``workflow_dispatch`` trigger declaring ``inputs``, that dispatches can target."""
        with self.lock:
            self.add_repository(full_name).workflows[file_name] = list(inputs or [])

    def add_comment(self, full_name: str, number: int, body: str, user: str = "octocat") -> StoredComment:
        with self.lock:
            now = _now()
            comment = StoredComment(self.next_id(), number, body, user, now, now)
            self.repositories[full_name].comments[comment.id] = comment
            return comment

    def add_user(self, login: str) -> int:
        with self.lock:
            return self.users.setdefault(login, self.next_id())

    def add_team(self, org: str, slug: str) -> int:
        with self.lock:
            return self.teams.setdefault(f"{org}/{slug}", self.next_id())

    def approve_run(self, full_name: str, run_id: int, environment: str, login: str) -> None:
        """A required reviewer approved the run's deployment to ``environment``."""
        with self.lock:
            self.add_repository(full_name).run_approvals.setdefault(run_id, []).append(
                {"environment": environment, "login": login})

    def inject(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def take_validation_errors(self) -> list[str]:
        """The errors so far, cleared: for tests that send an invalid call on purpose."""
        with self.lock:
            errors, self.validation_errors = self.validation_errors, []
            return errors

    def calls(self, operation: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if operation is None or r.operation == operation]

    def next_id(self) -> int:
        return next(self._ids)

    # Serving.

    def handle(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        matched = self._match(call)
        operation = matched[0].operation_id if matched else self._documented_operation(call)
        errors = self.openapi.request_errors(call)
        reply: Reply
        if errors:
            self._invalid(f"request {call}: " + " | ".join(errors))
            status = 404 if operation is None else 422
            reply = _error_reply(ApiError(status, None if status == 404 else "Invalid request.",
                                          [{"code": "invalid", "message": e} for e in errors] if status == 422
                                          else None))
        elif (fault := self._take_fault(operation)) is not None:
            if fault.carried_out and matched is not None and self._authorized(call):
                self._dispatch(matched[0], matched[1], call)
            reply = _error_reply(ApiError(fault.status, fault.message))
            reply.headers.update(fault.headers)
        elif not self._authorized(call):
            reply = _error_reply(ApiError(401))
        elif matched is None:
            self._invalid(f"request {call}: {operation} is valid but the stand-in does not implement it yet")
            reply = _error_reply(ApiError(404))
        else:
            known, params = matched
            reply = self._dispatch(known, params, call)
        body = json.dumps(reply.body).encode() if reply.body is not None else b""
        headers = {**self._standard_headers(), **reply.headers}
        if body:
            headers["Content-Type"] = "application/json; charset=utf-8"
        # A call GitHub does not document has no documented answer to check against.
        for error in self.openapi.response_errors(call, reply.status, headers, body) if operation else []:
            self._invalid(f"response {reply.status} to {call}: {error}")
        with self.lock:
            self.requests.append(Recorded(call, operation, reply.status, reply.body))
        return reply.status, headers, body

    def _dispatch(self, known: Route, params: dict[str, str], call: Call) -> Reply:
        if known.permission and not any(self._granted(p) for p in known.permission):
            return _error_reply(ApiError(403))
        try:
            body = call.json()
        except ValueError:
            return _error_reply(ApiError(400, "Problems parsing JSON"))
        try:
            with self.lock:
                return known.handler(Request(self, params, dict(call.query), body, call.path))
        except ApiError as exc:
            return _error_reply(exc)

    def _granted(self, grant: str) -> bool:
        scope, level = grant.split(":")
        held = self.permissions.get(scope, "none")
        return held == "write" or held == level

    def _authorized(self, call: Call) -> bool:
        scheme, _, token = call.headers.get("Authorization", "").partition(" ")
        return scheme.lower() in ("bearer", "token") and token == self.token

    def _match(self, call: Call) -> tuple[Route, dict[str, str]] | None:
        for known in self._routes:
            if known.method == call.method and (found := known.pattern.match(call.path)):
                return known, {k: unquote(v) for k, v in found.groupdict().items()}
        return None

    def _documented_operation(self, call: Call) -> str | None:
        for template, item in self.openapi.document["paths"].items():
            pattern = re.sub(r"\\\{(\w+)\\\}", r"[^/]+", re.escape(template))
            if re.fullmatch(pattern, call.path) and isinstance(op := item.get(call.method.lower()), dict):
                return str(op.get("operationId"))
        return None

    def _take_fault(self, operation: str | None) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.operation in (None, operation):
                    fault.times -= 1
                    return fault
        return None

    def _invalid(self, message: str) -> None:
        with self.lock:
            self.validation_errors.append(message)

    @staticmethod
    def _standard_headers() -> dict[str, str]:
        return {
            "X-GitHub-Api-Version-Selected": "2022-11-28",
            "X-GitHub-Request-Id": uuid.uuid4().hex[:16].upper(),
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999",
            "x-ratelimit-reset": str(int(datetime.now(timezone.utc).timestamp()) + 3600),
            "x-ratelimit-resource": "core",
            "x-ratelimit-used": "1",
        }


def _handler_class(standin: GitHubStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = parts.path
            if standin.prefix and not path.startswith(standin.prefix + "/"):
                standin._invalid(f"request {self.command} {path}: outside the API root {standin.prefix}")
                status, headers, data = 404, {"Content-Type": "application/json"}, b'{"message": "Not Found"}'
            else:
                call = Call(self.command, path.removeprefix(standin.prefix), parse_qs(parts.query),
                            {name.title(): value for name, value in self.headers.items()}, body)
                status, headers, data = standin.handle(call)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


# Representations, shaped as GitHub's description requires.


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error_reply(error: ApiError) -> Reply:
    body: dict[str, Any] = {"message": error.message, "documentation_url": DOCS, "status": str(error.status)}
    if error.errors:
        body["errors"] = error.errors
    return Reply(error.status, body)


def _user(login: str) -> dict[str, Any]:
    api = f"https://api.github.com/users/{login}"
    return {
        "login": login, "id": 41898282 if login == ACTIONS_BOT else zlib.crc32(login.encode()) % 10**7,
        "node_id": "MDM6Qm90NDE4OTgyODI=", "avatar_url": "https://avatars.githubusercontent.com/in/15368?v=4",
        "gravatar_id": "", "url": api, "html_url": f"https://github.com/{login}",
        "followers_url": f"{api}/followers", "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}", "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions", "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos", "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events", "type": "Bot" if login.endswith("[bot]") else "User",
        "site_admin": False,
    }


def _actions_app() -> dict[str, Any]:
    return {
        "id": 15368, "slug": "github-actions", "node_id": "MDM6QXBwMTUzNjg=", "owner": _user("github"),
        "name": "GitHub Actions", "description": "Automate your workflow from idea to production",
        "external_url": "https://help.github.com/en/actions", "html_url": "https://github.com/apps/github-actions",
        "created_at": "2018-07-30T09:30:17Z", "updated_at": "2019-12-10T19:04:12Z",
        "permissions": {"checks": "write", "pull_requests": "write", "statuses": "write"},
        "events": ["check_run", "check_suite"],
    }


def _comment_json(request: Request, repo: Repository, comment: StoredComment) -> dict[str, Any]:
    base = request.standin.url
    return {
        "id": comment.id, "node_id": f"IC_{comment.id}",
        "url": f"{base}/repos/{repo.full_name}/issues/comments/{comment.id}",
        "html_url": f"https://github.com/{repo.full_name}/{'issues' if comment.issue_number in repo.issues else 'pull'}"
                    f"/{comment.issue_number}#issuecomment-{comment.id}",
        "issue_url": f"{base}/repos/{repo.full_name}/issues/{comment.issue_number}",
        "body": comment.body, "user": _user(comment.user), "created_at": comment.created_at,
        "updated_at": comment.updated_at, "author_association": "NONE", "performed_via_github_app": None,
    }


def _pull_request(request: Request, repo: Repository) -> int:
    """The number of an existing pull request or issue (GitHub's issue endpoints serve both)."""
    number = request.int_param("issue_number")
    if number not in repo.pull_requests and number not in repo.issues:
        raise ApiError(404)
    return number


def _comment(request: Request, repo: Repository) -> StoredComment:
    try:
        return repo.comments[request.int_param("comment_id")]
    except KeyError:
        raise ApiError(404) from None


def _page_links(request: Request, page: int, last: int, per_page: int) -> str:
    def link(number: int, rel: str) -> str:
        query = {k: v[0] for k, v in request.query.items()} | {"per_page": str(per_page), "page": str(number)}
        return f'<{request.standin.url}{request.path}?{urlencode(query)}>; rel="{rel}"'
    rels: Iterator[str] = iter([])
    if page < last:
        rels = itertools.chain(rels, [link(page + 1, "next"), link(last, "last")])
    if page > 1:
        rels = itertools.chain(rels, [link(page - 1, "prev"), link(1, "first")])
    return ", ".join(rels)


# Endpoints.


@route("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments", "issues/list-comments",
       "pull-requests:read", "issues:read")
def list_comments(request: Request) -> Reply:
    repo = request.repository()
    number = _pull_request(request, repo)
    per_page = min(max(request.query_int("per_page", 30), 1), 100)
    page = max(request.query_int("page", 1), 1)
    comments = sorted(repo.issue_comments(number), key=lambda c: c.id)
    last = max((len(comments) + per_page - 1) // per_page, 1)
    chunk = comments[(page - 1) * per_page: page * per_page]
    links = _page_links(request, page, last, per_page)
    return Reply(200, [_comment_json(request, repo, c) for c in chunk], {"Link": links} if links else {})


@route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", "issues/create-comment",
       "pull-requests:write", "issues:write")
def create_comment(request: Request) -> Reply:
    repo = request.repository()
    number = _pull_request(request, repo)
    comment = request.standin.add_comment(repo.full_name, number, request.body["body"], user=ACTIONS_BOT)
    data = _comment_json(request, repo, comment)
    return Reply(201, data, {"Location": data["url"]})


@route("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}", "issues/update-comment",
       "pull-requests:write", "issues:write")
def update_comment(request: Request) -> Reply:
    repo = request.repository()
    comment = _comment(request, repo)
    comment.body = request.body["body"]
    comment.updated_at = _now()
    return Reply(200, _comment_json(request, repo, comment))


@route("DELETE", "/repos/{owner}/{repo}/issues/comments/{comment_id}", "issues/delete-comment",
       "pull-requests:write", "issues:write")
def delete_comment(request: Request) -> Reply:
    repo = request.repository()
    del repo.comments[_comment(request, repo).id]
    return Reply(204)


@route("POST", "/repos/{owner}/{repo}/check-runs", "checks/create", "checks:write")
def create_check_run(request: Request) -> Reply:
    repo = request.repository()
    body = request.body
    run_id = request.standin.next_id()
    conclusion = body.get("conclusion")
    status = "completed" if conclusion else body.get("status", "queued")
    if status == "completed" and not conclusion:
        raise ApiError(422, "Invalid request.", [{"code": "missing_field", "field": "conclusion",
                                                  "resource": "CheckRun"}])
    output = body.get("output") or {}
    now = _now()
    api = f"{request.standin.url}/repos/{repo.full_name}/check-runs/{run_id}"
    run = {
        "id": run_id, "node_id": f"CR_{run_id}", "head_sha": body["head_sha"], "name": body["name"],
        "external_id": body.get("external_id", ""), "url": api,
        "html_url": f"https://github.com/{repo.full_name}/runs/{run_id}",
        "details_url": body.get("details_url", f"https://github.com/{repo.full_name}/runs/{run_id}"),
        "status": status, "conclusion": conclusion, "started_at": body.get("started_at", now),
        "completed_at": body.get("completed_at", now) if status == "completed" else None,
        "output": {"title": output.get("title"), "summary": output.get("summary"), "text": output.get("text"),
                   "annotations_count": len(output.get("annotations", [])), "annotations_url": f"{api}/annotations"},
        "check_suite": {"id": run_id + 500000}, "app": _actions_app(), "pull_requests": [],
    }
    repo.check_runs.append(run)
    return Reply(201, run)


@route("POST", "/repos/{owner}/{repo}/statuses/{sha}", "repos/create-commit-status", "statuses:write")
def create_commit_status(request: Request) -> Reply:
    repo = request.repository()
    body = request.body
    status_id = request.standin.next_id()
    now = _now()
    status = {
        "url": f"{request.standin.url}/repos/{repo.full_name}/statuses/{request.params['sha']}",
        "avatar_url": None, "id": status_id, "node_id": f"SC_{status_id}", "state": body["state"],
        "description": body.get("description"), "target_url": body.get("target_url"),
        "context": body.get("context", "default"), "created_at": now, "updated_at": now,
        "creator": _user(ACTIONS_BOT),
    }
    repo.statuses.append({**status, "sha": request.params["sha"]})
    return Reply(201, status, {"Location": status["url"]})



# --- promotion: deployments, environments, branch policies, approvals, users, teams, pulls ----------


def _example(request: Request, name: str) -> Any:
    """A deep copy of an example from GitHub's description: the shape the answer must have."""
    return copy.deepcopy(request.standin.openapi.document["components"]["examples"][name]["value"])


def _repo_api(request: Request, repo: Repository) -> str:
    return f"{request.standin.url}/repos/{repo.full_name}"


def _deployment(request: Request, repo: Repository) -> dict[str, Any]:
    try:
        return repo.deployments[request.int_param("deployment_id")]
    except KeyError:
        raise ApiError(404) from None


def _paged(request: Request, items: list[Any]) -> Reply:
    per_page = min(max(request.query_int("per_page", 30), 1), 100)
    page = max(request.query_int("page", 1), 1)
    last = max((len(items) + per_page - 1) // per_page, 1)
    links = _page_links(request, page, last, per_page)
    return Reply(200, items[(page - 1) * per_page: page * per_page], {"Link": links} if links else {})


@route("POST", "/repos/{owner}/{repo}/deployments", "repos/create-deployment", "deployments:write")
def create_deployment(request: Request) -> Reply:
    repo = request.repository()
    body = request.body or {}
    number = request.standin.next_id()
    now = _now()
    api = f"{_repo_api(request, repo)}/deployments/{number}"
    deployment = _example(request, "deployment")
    deployment.update({
        "url": api, "id": number, "node_id": f"DE_{number}", "sha": body["ref"] if len(body["ref"]) == 40 else
        "0" * 40, "ref": body["ref"], "task": body.get("task", "deploy"), "payload": body.get("payload") or {},
        "original_environment": body.get("environment", "production"),
        "environment": body.get("environment", "production"), "description": body.get("description"),
        "creator": _user(ACTIONS_BOT), "created_at": now, "updated_at": now, "statuses_url": f"{api}/statuses",
        "repository_url": _repo_api(request, repo),
        "transient_environment": body.get("transient_environment", False),
        "production_environment": body.get("production_environment",
                                           body.get("environment", "production") == "production"),
        "performed_via_github_app": None,
    })
    repo.deployments[number] = deployment
    repo.deployment_statuses[number] = []
    return Reply(201, deployment, {"Location": api})


@route("GET", "/repos/{owner}/{repo}/deployments", "repos/list-deployments", "deployments:read")
def list_deployments(request: Request) -> Reply:
    repo = request.repository()
    environment = (request.query.get("environment") or [None])[0]
    found = [d for d in sorted(repo.deployments.values(), key=lambda d: -int(d["id"]))
             if environment is None or d["environment"] == environment]
    return _paged(request, found)


@route("POST", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", "repos/create-deployment-status",
       "deployments:write")
def create_deployment_status(request: Request) -> Reply:
    repo = request.repository()
    deployment = _deployment(request, repo)
    body = request.body or {}
    number = request.standin.next_id()
    now = _now()
    log_url = body.get("log_url") or body.get("target_url") or ""
    status = _example(request, "deployment-status")
    status.update({
        "url": f"{deployment['url']}/statuses/{number}", "id": number, "node_id": f"DES_{number}",
        "state": body["state"], "creator": _user(ACTIONS_BOT), "description": body.get("description", ""),
        "environment": body.get("environment") or deployment["environment"], "target_url": log_url,
        "log_url": log_url, "environment_url": body.get("environment_url", ""), "created_at": now,
        "updated_at": now, "deployment_url": deployment["url"], "repository_url": _repo_api(request, repo),
        "performed_via_github_app": None,
    })
    statuses = repo.deployment_statuses[deployment["id"]]
    if body.get("auto_inactive", True) and body["state"] == "success" and not deployment["production_environment"]:
        # GitHub's auto_inactive: earlier successful non-production deployments of the environment
        for other_id, others in repo.deployment_statuses.items():
            other = repo.deployments[other_id]
            if other_id != deployment["id"] and other["environment"] == deployment["environment"] and others and \
                    others[-1]["state"] == "success":
                others.append({**others[-1], "id": request.standin.next_id(), "state": "inactive"})
    statuses.append(status)
    return Reply(201, status, {"Location": status["url"]})


@route("GET", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", "repos/list-deployment-statuses",
       "deployments:read")
def list_deployment_statuses(request: Request) -> Reply:
    repo = request.repository()
    deployment = _deployment(request, repo)
    return _paged(request, list(reversed(repo.deployment_statuses[deployment["id"]])))


def _environment_json(request: Request, repo: Repository, name: str) -> dict[str, Any]:
    stored = repo.environments[name]
    environment = _example(request, "environment")
    rules: list[dict[str, Any]] = []
    if stored["wait_timer"]:
        rules.append({"id": stored["rule_ids"][0], "node_id": f"GA_{stored['rule_ids'][0]}", "type": "wait_timer",
                      "wait_timer": stored["wait_timer"]})
    if stored["reviewers"]:
        reviewers = []
        for reviewer in stored["reviewers"]:
            if reviewer["type"] == "User":
                login = next(k for k, v in request.standin.users.items() if v == reviewer["id"])
                reviewers.append({"type": "User", "reviewer": {**_user(login), "id": reviewer["id"]}})
            else:
                slug = next(k for k, v in request.standin.teams.items() if v == reviewer["id"])
                team = _team_json(request, slug)
                team.pop("organization", None)
                reviewers.append({"type": "Team", "reviewer": team})
        rules.append({"id": stored["rule_ids"][1], "node_id": f"GA_{stored['rule_ids'][1]}",
                      "type": "required_reviewers", "prevent_self_review": stored["prevent_self_review"],
                      "reviewers": reviewers})
    environment.update({
        "id": stored["id"], "node_id": f"EN_{stored['id']}", "name": name,
        "url": f"{_repo_api(request, repo)}/environments/{name}",
        "html_url": f"https://github.com/{repo.full_name}/deployments/activity_log?environments_filter={name}",
        "created_at": stored["created_at"], "updated_at": stored["updated_at"], "protection_rules": rules,
        "deployment_branch_policy": stored["deployment_branch_policy"],
    })
    return environment


def _stored_environment(request: Request, repo: Repository) -> str:
    name = request.params["environment_name"]
    if name not in repo.environments:
        raise ApiError(404)
    return name


@route("PUT", "/repos/{owner}/{repo}/environments/{environment_name}", "repos/create-or-update-environment",
       "administration:write")
def create_or_update_environment(request: Request) -> Reply:
    repo = request.repository()
    name = request.params["environment_name"]
    body = request.body or {}
    reviewers = body.get("reviewers") or []
    if len(reviewers) > 6:
        raise ApiError(422, "Validation Failed", [{"code": "invalid", "message": "at most 6 reviewers"}])
    known = {("User", i) for i in request.standin.users.values()}
    known |= {("Team", i) for i in request.standin.teams.values()}
    if any((r.get("type"), r.get("id")) not in known for r in reviewers):
        raise ApiError(422, "Validation Failed", [{"code": "invalid", "message": "unknown reviewer"}])
    now = _now()
    stored = repo.environments.get(name) or {"id": request.standin.next_id(), "created_at": now,
                                             "rule_ids": [request.standin.next_id(), request.standin.next_id()]}
    stored.update(updated_at=now, wait_timer=body.get("wait_timer", stored.get("wait_timer", 0)),
                  prevent_self_review=body.get("prevent_self_review", stored.get("prevent_self_review", False)),
                  reviewers=reviewers if "reviewers" in body else stored.get("reviewers", []),
                  deployment_branch_policy=body.get("deployment_branch_policy",
                                                    stored.get("deployment_branch_policy")))
    repo.environments[name] = stored
    repo.branch_policies.setdefault(name, {})
    return Reply(200, _environment_json(request, repo, name))


@route("GET", "/repos/{owner}/{repo}/environments/{environment_name}", "repos/get-environment",
       "administration:read", "actions:read")
def get_environment(request: Request) -> Reply:
    repo = request.repository()
    return Reply(200, _environment_json(request, repo, _stored_environment(request, repo)))


@route("GET", "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies",
       "repos/list-deployment-branch-policies", "administration:read", "actions:read")
def list_branch_policies(request: Request) -> Reply:
    repo = request.repository()
    policies = list(repo.branch_policies[_stored_environment(request, repo)].values())
    return Reply(200, {"total_count": len(policies), "branch_policies": policies})


@route("POST", "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies",
       "repos/create-deployment-branch-policy", "administration:write")
def create_branch_policy(request: Request) -> Reply:
    repo = request.repository()
    name = _stored_environment(request, repo)
    if not (repo.environments[name].get("deployment_branch_policy") or {}).get("custom_branch_policies"):
        raise ApiError(404, "Not Found: custom branch policies are not enabled for this environment")
    body = request.body or {}
    policies = repo.branch_policies[name]
    if any(p["name"] == body["name"] and p["type"] == body.get("type", "branch") for p in policies.values()):
        raise ApiError(422, "Validation Failed",
                       [{"code": "already_exists", "message": "Name already exists"}])
    number = request.standin.next_id()
    policies[number] = {"id": number, "node_id": f"DBP_{number}", "name": body["name"],
                        "type": body.get("type", "branch")}
    return Reply(200, policies[number])


@route("DELETE", "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies/"
       "{branch_policy_id}", "repos/delete-deployment-branch-policy", "administration:write")
def delete_branch_policy(request: Request) -> Reply:
    repo = request.repository()
    policies = repo.branch_policies[_stored_environment(request, repo)]
    if policies.pop(request.int_param("branch_policy_id"), None) is None:
        raise ApiError(404)
    return Reply(204)


@route("GET", "/users/{username}", "users/get-by-username")
def get_user(request: Request) -> Reply:
    login = request.params["username"]
    if login not in request.standin.users:
        raise ApiError(404)
    user = _example(request, "public-user-default-response")
    user.update({**_user(login), "id": request.standin.users[login], "name": login, "user_view_type": "public"})
    return Reply(200, user)


def _team_json(request: Request, key: str) -> dict[str, Any]:
    org, slug = key.split("/")
    team = _example(request, "team-full")
    number = request.standin.teams[key]
    team.update({"id": number, "node_id": f"T_{number}", "url": f"{request.standin.url}/teams/{number}",
                 "html_url": f"https://github.com/orgs/{org}/teams/{slug}", "name": slug, "slug": slug,
                 "type": "organization"})
    team["organization"].update(login=org, archived_at=None)  # the description's example predates both fields
    return dict(team)


@route("GET", "/orgs/{org}/teams/{team_slug}", "teams/get-by-name", "members:read")
def get_team(request: Request) -> Reply:
    key = f"{request.params['org']}/{request.params['team_slug']}"
    if key not in request.standin.teams:
        raise ApiError(404)
    return Reply(200, _team_json(request, key))


@route("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/approvals", "actions/get-reviews-for-run", "actions:read")
def get_reviews_for_run(request: Request) -> Reply:
    repo = request.repository()
    reviews = []
    template = _example(request, "environment-approvals-items")[0]
    for approval in repo.run_approvals.get(request.int_param("run_id"), []):
        review = copy.deepcopy(template)
        review["environments"][0]["name"] = approval["environment"]
        review["user"] = _user(approval["login"])
        reviews.append(review)
    return Reply(200, reviews)


def _pull_json(request: Request, repo: Repository, number: int) -> dict[str, Any]:
    stored = repo.pulls[number]
    pull = _example(request, "pull-request")
    api = f"{_repo_api(request, repo)}/pulls/{number}"
    pull.update({"url": api, "id": number + 10**6, "node_id": f"PR_{number}", "number": number,
                 "html_url": f"https://github.com/{repo.full_name}/pull/{number}", "state": stored["state"],
                 "title": stored["title"], "body": stored["body"], "user": _user(ACTIONS_BOT),
                 "created_at": stored["created_at"], "updated_at": stored["updated_at"], "draft": False,
                 "merged": False, "mergeable": None, "merged_at": None, "closed_at": None,
                 "requested_reviewers": [], "requested_teams": [], "assignee": None, "assignees": []})
    pull["head"]["ref"] = stored["head"]
    pull["base"]["ref"] = stored["base"]
    return dict(pull)


@route("POST", "/repos/{owner}/{repo}/pulls", "pulls/create", "pull-requests:write")
def create_pull(request: Request) -> Reply:
    repo = request.repository()
    body = request.body or {}
    head = str(body["head"]).split(":")[-1]
    if any(p["head"] == head and p["base"] == body["base"] and p["state"] == "open" for p in repo.pulls.values()):
        raise ApiError(422, "Validation Failed",
                       [{"code": "custom", "message": f"A pull request already exists for {head}."}])
    number = max([*repo.pull_requests, *repo.pulls, *repo.issues, 0]) + 1
    now = _now()
    repo.pulls[number] = {"title": body["title"], "body": body.get("body", ""), "head": head, "base": body["base"],
                          "state": "open", "created_at": now, "updated_at": now}
    repo.pull_requests[number] = "0" * 40
    data = _pull_json(request, repo, number)
    return Reply(201, data, {"Location": data["url"]})


@route("GET", "/repos/{owner}/{repo}/pulls", "pulls/list", "pull-requests:read")
def list_pulls(request: Request) -> Reply:
    repo = request.repository()
    state = (request.query.get("state") or ["open"])[0]
    head = (request.query.get("head") or [None])[0]
    base = (request.query.get("base") or [None])[0]
    found = []
    for number, stored in sorted(repo.pulls.items()):
        if state != "all" and stored["state"] != state:
            continue
        if head is not None and stored["head"] != head.split(":")[-1]:
            continue
        if base is not None and stored["base"] != base:
            continue
        simple = _pull_json(request, repo, number)
        for extra in ("merged", "mergeable", "rebaseable", "mergeable_state", "merged_by", "comments",
                      "review_comments", "maintainer_can_modify", "commits", "additions", "deletions",
                      "changed_files"):
            simple.pop(extra, None)
        found.append(simple)
    return _paged(request, found)


@route("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}", "pulls/update", "pull-requests:write")
def update_pull(request: Request) -> Reply:
    repo = request.repository()
    number = request.int_param("pull_number")
    if number not in repo.pulls:
        raise ApiError(404)
    body = request.body or {}
    stored = repo.pulls[number]
    stored.update({k: body[k] for k in ("title", "body", "state") if k in body}, updated_at=_now())
    return Reply(200, _pull_json(request, repo, number))


# --- monitoring: issues, labels, workflow dispatches ------------------------------------------------


def _label_json(request: Request, repo: Repository, name: str) -> dict[str, Any]:
    stored = repo.labels[name]
    return {"id": stored["id"], "node_id": f"LA_{stored['id']}", "url": f"{_repo_api(request, repo)}/labels/{name}",
            "name": name, "description": stored["description"], "color": stored["color"], "default": False}


def _issue_json(request: Request, repo: Repository, number: int) -> dict[str, Any]:
    stored = repo.issues[number]
    issue = _example(request, "issue")
    api = f"{_repo_api(request, repo)}/issues/{number}"
    issue.update({
        "id": number + 2 * 10**6, "node_id": f"I_{number}", "url": api, "repository_url": _repo_api(request, repo),
        "labels_url": f"{api}/labels{{/name}}", "comments_url": f"{api}/comments", "events_url": f"{api}/events",
        "html_url": f"https://github.com/{repo.full_name}/issues/{number}", "number": number,
        "state": stored["state"], "state_reason": stored.get("state_reason"), "title": stored["title"],
        "body": stored["body"], "user": _user(stored["user"]),
        "labels": [_label_json(request, repo, name) for name in stored["labels"]],
        "assignee": None, "assignees": [], "milestone": None, "locked": False, "active_lock_reason": None,
        "comments": len(repo.issue_comments(number)), "pull_request": None, "closed_at": stored.get("closed_at"),
        "created_at": stored["created_at"], "updated_at": stored["updated_at"], "closed_by": None,
        "author_association": "NONE", "performed_via_github_app": None,
    })
    for key in ("pull_request", "closed_by", "pinned_comment", "state_reason"):
        if issue.get(key) is None:
            issue.pop(key, None)
    return dict(issue)


def _ensure_labels(request: Request, repo: Repository, names: list[str]) -> None:
    """GitHub creates the labels an issue is given that the repository does not have yet."""
    for name in names:
        if name not in repo.labels:
            repo.labels[name] = {"id": request.standin.next_id(), "description": None, "color": "ededed"}


def _stored_issue(request: Request, repo: Repository) -> int:
    number = request.int_param("issue_number")
    if number not in repo.issues:
        raise ApiError(404)
    return number


@route("GET", "/repos/{owner}/{repo}/issues", "issues/list-for-repo", "issues:read")
def list_issues(request: Request) -> Reply:
    repo = request.repository()
    state = (request.query.get("state") or ["open"])[0]
    wanted = [name for name in (request.query.get("labels") or [""])[0].split(",") if name]
    creator = (request.query.get("creator") or [None])[0]
    found = []
    for number, stored in sorted(repo.issues.items(), key=lambda item: -item[0]):  # newest first, as GitHub
        if state != "all" and stored["state"] != state:
            continue
        if not set(wanted) <= set(stored["labels"]) or creator not in (None, stored["user"]):
            continue
        found.append(_issue_json(request, repo, number))
    return _paged(request, found)


@route("POST", "/repos/{owner}/{repo}/issues", "issues/create", "issues:write")
def create_issue(request: Request) -> Reply:
    repo = request.repository()
    body = request.body or {}
    labels = [str(label) for label in body.get("labels") or []]
    _ensure_labels(request, repo, labels)
    number = max([*repo.pull_requests, *repo.pulls, *repo.issues, 0]) + 1
    now = _now()
    repo.issues[number] = {"title": str(body["title"]), "body": body.get("body"), "labels": labels, "state": "open",
                           "user": ACTIONS_BOT, "created_at": now, "updated_at": now}
    data = _issue_json(request, repo, number)
    return Reply(201, data, {"Location": data["url"]})


@route("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}", "issues/update", "issues:write")
def update_issue(request: Request) -> Reply:
    repo = request.repository()
    number = _stored_issue(request, repo)
    body = request.body or {}
    stored = repo.issues[number]
    stored.update({k: body[k] for k in ("title", "body", "state", "state_reason") if k in body}, updated_at=_now())
    if "labels" in body:
        stored["labels"] = [str(label) for label in body["labels"]]
        _ensure_labels(request, repo, stored["labels"])
    stored["closed_at"] = stored["updated_at"] if stored["state"] == "closed" else None
    return Reply(200, _issue_json(request, repo, number))


@route("GET", "/repos/{owner}/{repo}/labels/{name}", "issues/get-label", "issues:read")
def get_label(request: Request) -> Reply:
    repo = request.repository()
    name = request.params["name"]
    if name not in repo.labels:
        raise ApiError(404)
    return Reply(200, _label_json(request, repo, name))


@route("POST", "/repos/{owner}/{repo}/labels", "issues/create-label", "issues:write")
def create_label(request: Request) -> Reply:
    repo = request.repository()
    body = request.body or {}
    name = str(body["name"])
    if name in repo.labels:
        raise ApiError(422, "Validation Failed", [{"resource": "Label", "code": "already_exists", "field": "name"}])
    repo.labels[name] = {"id": request.standin.next_id(), "description": body.get("description"),
                         "color": str(body.get("color") or "ededed").lstrip("#")}
    data = _label_json(request, repo, name)
    return Reply(201, data, {"Location": data["url"]})


@route("POST", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches",
       "actions/create-workflow-dispatch", "actions:write")
def create_workflow_dispatch(request: Request) -> Reply:
    repo = request.repository()
    workflow = request.params["workflow_id"]
    if workflow not in repo.workflows:
        raise ApiError(404)
    body = request.body or {}
    inputs = body.get("inputs") or {}
    declared = repo.workflows[workflow]
    unknown = sorted(set(inputs) - set(declared))
    if unknown:
        raise ApiError(422, f"Unexpected inputs provided: {unknown}")
    repo.dispatches.append({"workflow": workflow, "ref": body["ref"], "inputs": dict(inputs)})
    if body.get("return_run_details"):
        run_id = request.standin.next_id()
        return Reply(200, {"workflow_run_id": run_id,
                           "run_url": f"{_repo_api(request, repo)}/actions/runs/{run_id}",
                           "html_url": f"https://github.com/{repo.full_name}/actions/runs/{run_id}"})
    return Reply(204)
