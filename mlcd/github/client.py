"""A small GitHub REST client: bounded retries, rate limits, Link pagination, errors users can act on.

A POST creates something, so it is sent again only when GitHub surely did not act on it (no connection
was made, or a rate limit refused it). When its answer is lost after it was sent (a timeout, a 5xx),
the caller's ``recover`` looks for what it created: found, that is the answer; not found, it is sent
again. Without ``recover`` the call fails with that said, and nothing is ever created twice.

Works against github.com and GitHub Enterprise Server alike: the API root comes from ``GITHUB_API_URL``
(``https://api.github.com`` by default; ``https://HOST/api/v3`` on Enterprise Server).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from mlcd import __version__
from mlcd.errors import GitHubError

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
TOKEN_DOCS = "https://docs.github.com/en/actions/reference/github_token-reference"
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
# GitHub asks clients that hit a rate limit without a reset time to wait at least a minute.
DEFAULT_RATE_LIMIT_WAIT = 60.0

JSON = dict[str, Any]


class _Unanswered(Exception):
    """A POST was sent and its answer lost: GitHub may have carried it out."""

    def __init__(self, what: str, status: int | None) -> None:
        super().__init__(what)
        self.what = what
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``attempts`` tries per request, and at most ``max_wait`` seconds asleep between them."""

    attempts: int = 5
    max_wait: float = 120.0
    first_delay: float = 1.0
    max_delay: float = 30.0

    def backoff(self, retry: int) -> float:
        return float(min(self.first_delay * 2**retry, self.max_delay))


class GitHubClient:
    """Calls the GitHub REST API with a token; ``sleep``, ``clock`` and ``session`` are injectable for tests.

    Example::

        client = GitHubClient.from_env(os.environ)
        client.post("/repos/octo/app/issues/7/comments", {"body": "hi"}, permission="pull-requests: write")
    """

    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        timeout: float = 30.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.session = session if session is not None else requests.Session()
        self.session.headers.update({
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "User-Agent": f"mlcd/{__version__}",
            "X-GitHub-Api-Version": API_VERSION,
        })
        self.retry = retry if retry is not None else RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self.timeout = timeout

    @classmethod
    def from_env(cls, env: Mapping[str, str], **kwargs: Any) -> GitHubClient:
        token = env.get("GITHUB_TOKEN", "")
        if not token:
            raise GitHubError(
                "GITHUB_TOKEN is not set",
                fix="pass the token to the step: `env: {GITHUB_TOKEN: ${{ github.token }}}`",
            )
        return cls(token, env.get("GITHUB_API_URL") or DEFAULT_API_URL, **kwargs)

    def get(self, path: str, params: Mapping[str, str | int] | None = None, *,
            permission: str | None = None) -> Any:
        return self.request("GET", path, params=params, permission=permission).json()

    def post(self, path: str, body: JSON, *, permission: str | None = None,
             job_permissions: str | None = None, recover: Callable[[], JSON | None] | None = None) -> JSON:
        """Create; ``recover`` finds what this call created, for when its answer is lost (see the module)."""
        call = f"POST /{path.lstrip('/')}"
        for attempt in range(self.retry.attempts):
            try:
                return self._json(self._send("POST", self._url(path), body=body, permission=permission,
                                             job_permissions=job_permissions, resend_unanswered=False))
            except _Unanswered as lost:
                if recover is None:
                    raise GitHubError(
                        f"{call}: {lost.what} after the request was sent, so GitHub may have carried it out; it was "
                        "not sent again, so nothing is created twice",
                        fix="re-run the job once GitHub answers again (see https://www.githubstatus.com)",
                        status=lost.status) from None
                found = recover()
                if found is not None:
                    return found
                if attempt + 1 < self.retry.attempts:
                    self.sleep(self.retry.backoff(attempt))
        raise GitHubError(f"{call}: no answer from GitHub after {self.retry.attempts} attempt(s), and nothing was "
                          "created", fix="re-run the job later; see https://www.githubstatus.com")

    def patch(self, path: str, body: JSON, *, permission: str | None = None,
              job_permissions: str | None = None) -> JSON:
        return self._json(self.request("PATCH", path, body=body, permission=permission,
                                       job_permissions=job_permissions))

    def delete(self, path: str, *, permission: str | None = None) -> None:
        self.request("DELETE", path, permission=permission)

    def paginate(self, path: str, params: Mapping[str, str | int] | None = None, *,
                 permission: str | None = None) -> Iterator[JSON]:
        """Every item of a list endpoint, following ``Link: <…>; rel="next"`` one page at a time."""
        url: str | None = self._url(path)
        query: Mapping[str, str | int] | None = {"per_page": 100, **(params or {})}
        seen: set[str] = set()
        while url is not None:
            response = self._send("GET", url, params=query, permission=permission)
            page = response.json()
            if not isinstance(page, list):
                raise GitHubError(f"GET {path}: expected a list from GitHub, got {type(page).__name__}")
            yield from page
            seen.add(response.url)
            url = response.links.get("next", {}).get("url")
            query = None  # the next link carries the query
            if url is not None and (url in seen or not url.startswith(self.api_url + "/")):
                # Never loop, and never send the token to a host other than the API's.
                raise GitHubError(f"GET {path}: GitHub's next-page link {url} is not a new page of {self.api_url}")

    def request(
        self,
        method: str,
        path: str,
        *,
        body: JSON | None = None,
        params: Mapping[str, str | int] | None = None,
        permission: str | None = None,
        job_permissions: str | None = None,
    ) -> requests.Response:
        """Send one call; ``permission`` (e.g. ``"pull-requests: write"``) names what a 403 means it lacks,
        and ``job_permissions`` the whole ``permissions:`` mapping to suggest (default: ``permission``)."""
        return self._send(method, self._url(path), body=body, params=params, permission=permission,
                          job_permissions=job_permissions)

    def _url(self, path: str) -> str:
        return f"{self.api_url}/{path.lstrip('/')}"

    @staticmethod
    def _json(response: requests.Response) -> JSON:
        data = response.json()
        if not isinstance(data, dict):
            raise GitHubError(f"{response.request.method} {response.url}: expected a JSON object from GitHub")
        return data

    def _send(
        self,
        method: str,
        url: str,
        *,
        body: JSON | None = None,
        params: Mapping[str, str | int] | None = None,
        permission: str | None = None,
        job_permissions: str | None = None,
        resend_unanswered: bool = True,
    ) -> requests.Response:
        """``resend_unanswered`` False (a POST): a request whose answer was lost after it was sent raises
        _Unanswered instead of being sent again."""
        waited = 0.0
        call = f"{method} {url.removeprefix(self.api_url)}"
        for attempt in range(1, self.retry.attempts + 1):
            last = attempt == self.retry.attempts
            try:
                response = self.session.request(method, url, json=body, params=params, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not resend_unanswered and not _never_sent(exc):
                    raise _Unanswered(f"no answer from GitHub ({type(exc).__name__})", None) from None
                delay = self.retry.backoff(attempt - 1)
                if last or waited + delay > self.retry.max_wait:
                    raise GitHubError(
                        f"{call}: cannot reach {self.api_url} after {attempt} attempt(s): {type(exc).__name__}",
                        fix="check the runner's network and GITHUB_API_URL (on Enterprise Server: "
                        "https://HOST/api/v3)",
                    ) from None
            else:
                if response.status_code < 400:
                    return response
                if not resend_unanswered and response.status_code in RETRYABLE_STATUSES:
                    raise _Unanswered(f"GitHub answered {response.status_code} {_github_message(response)}".strip(),
                                      response.status_code)
                delay_or_none = self._retry_delay(response, attempt - 1)
                if delay_or_none is None:
                    raise _refusal(call, response, permission, job_permissions)
                delay = delay_or_none
                if last or waited + delay > self.retry.max_wait:
                    raise _gave_up(call, response, attempt, delay)
            self.sleep(delay)
            waited += delay
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _retry_delay(self, response: requests.Response, retry: int) -> float | None:
        """Seconds to wait before retrying, or None if retrying cannot help."""
        status = response.status_code
        headers = response.headers
        retry_after = headers.get("Retry-After")
        if status in RETRYABLE_STATUSES:
            return _seconds(retry_after) if retry_after is not None else self.retry.backoff(retry)
        if status not in (403, 429):
            return None
        if retry_after is not None:
            return _seconds(retry_after)
        if headers.get("x-ratelimit-remaining") == "0":
            reset = _seconds(headers.get("x-ratelimit-reset", "0"))
            return max(reset - self.clock(), 0.0) + 1.0
        if status == 429 or "rate limit" in _github_message(response).lower():
            return DEFAULT_RATE_LIMIT_WAIT
        return None


def _never_sent(exc: requests.RequestException) -> bool:
    """True when no connection was made, so the request cannot have reached GitHub."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def _seconds(value: str) -> float:
    try:
        return max(float(value), 0.0)
    except ValueError:
        return DEFAULT_RATE_LIMIT_WAIT


def _github_message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.reason or ""
    message = data.get("message") if isinstance(data, dict) else None
    return str(message) if message else (response.reason or "")


def _refusal(call: str, response: requests.Response, permission: str | None,
             job_permissions: str | None) -> GitHubError:
    status = response.status_code
    said = f"{status} {_github_message(response)}".strip()
    if status == 401:
        return GitHubError(
            f"{call}: GitHub rejected the token ({said})",
            fix="pass a valid token to the step: `env: {GITHUB_TOKEN: ${{ github.token }}}`; a personal token "
            "may have expired",
            status=status,
        )
    if status == 403:
        lacks = f"the token lacks {permission}" if permission else "the token lacks the permission for this call"
        wanted = job_permissions or permission or "…"
        return GitHubError(
            f"{call}: GitHub refused ({said}): {lacks}",
            fix=f"add `permissions: {{{wanted}}}` to the job; pull requests from forks only get a read-only "
            f"token, so publish from a `workflow_run` workflow there; see {TOKEN_DOCS}",
            status=status,
        )
    if status == 404:
        return GitHubError(
            f"{call}: not found ({said}): the repository, pull request or commit does not exist, or the token "
            "cannot see it",
            fix="check --repo, --pr and --sha (or GITHUB_REPOSITORY and the event); on GitHub Enterprise Server "
            "set GITHUB_API_URL to https://HOST/api/v3",
            status=status,
        )
    details = _validation_details(response)
    return GitHubError(f"{call}: GitHub answered {said}{details}", status=status)


def _validation_details(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        return ""
    if not isinstance(errors, list) or not errors:
        return ""
    parts = [str(e.get("message") or f"{e.get('field')}: {e.get('code')}") if isinstance(e, dict) else str(e)
             for e in errors]
    return f" ({'; '.join(parts)})"


def _gave_up(call: str, response: requests.Response, attempts: int, delay: float) -> GitHubError:
    said = f"{response.status_code} {_github_message(response)}".strip()
    if response.status_code in (403, 429):
        return GitHubError(
            f"{call}: rate-limited by GitHub ({said}); the next try would be in {delay:.0f}s, past mlcd's wait "
            "budget",
            fix="re-run the job later, or spread out the workflows that share this token",
            status=response.status_code,
        )
    return GitHubError(
        f"{call}: GitHub answered {said} {attempts} time(s)",
        fix="re-run the job later; see https://www.githubstatus.com",
        status=response.status_code,
    )
