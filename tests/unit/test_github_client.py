from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from mlcd.errors import GitHubError
from mlcd.github import GitHubClient, RetryPolicy, upsert_sticky_comment
from mlcd.github.publish import REPORT_PERMISSIONS

Reply = tuple[int, dict[str, str], Any]


class Scripted(BaseAdapter):
    """A transport that answers with the replies it was given, in order, and keeps what was sent."""

    def __init__(self, *replies: Reply | Exception) -> None:
        super().__init__()
        self.replies = list(replies)
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        status, headers, body = reply
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(headers)
        response._content = json.dumps(body).encode() if body is not None else b""
        response.url = request.url or ""
        response.request = request
        response.reason = "test"
        return response

    def close(self) -> None:
        pass


def client_with(*replies: Reply | Exception, api_url: str = "https://api.github.com",
                **kwargs: Any) -> tuple[GitHubClient, Scripted, list[float]]:
    transport = Scripted(*replies)
    session = requests.Session()
    session.mount("https://", transport)
    sleeps: list[float] = []
    client = GitHubClient("t0ken", api_url, session=session, sleep=sleeps.append, **kwargs)
    return client, transport, sleeps


def ok(body: Any = None, **headers: str) -> Reply:
    return 200, headers, body if body is not None else {"id": 1}


def error(status: int, message: str, **headers: str) -> Reply:
    return status, {"Content-Type": "application/json", **headers}, {"message": message,
                                                                      "documentation_url": "https://docs"}


def test_retries_server_errors_with_exponential_backoff_then_succeeds() -> None:
    client, transport, sleeps = client_with(error(500, "boom"), error(502, "bad gateway"), ok({"id": 7}))

    assert client.get("/repos/o/r/issues/1") == {"id": 7}
    assert sleeps == [1.0, 2.0]
    assert len(transport.sent) == 3


def test_gives_up_after_the_attempts_with_an_error_saying_so() -> None:
    client, _, sleeps = client_with(*[error(503, "unavailable")] * 3, retry=RetryPolicy(attempts=3))

    with pytest.raises(GitHubError) as caught:
        client.get("/repos/o/r")
    assert caught.value.status == 503
    assert "3 time(s)" in caught.value.message
    assert caught.value.exit_code == 7
    assert sleeps == [1.0, 2.0]


def test_total_wait_is_bounded() -> None:
    client, _, sleeps = client_with(*[error(500, "boom")] * 5, retry=RetryPolicy(attempts=5, max_wait=4.0))

    with pytest.raises(GitHubError):
        client.get("/repos/o/r")
    assert sleeps == [1.0, 2.0]  # the next 4 s would pass the 4 s budget


def test_connection_errors_are_retried() -> None:
    client, _, sleeps = client_with(requests.ConnectionError("reset"), ok())

    assert client.get("/x") == {"id": 1}
    assert sleeps == [1.0]


def test_unreachable_api_names_the_url_to_check() -> None:
    client, _, _ = client_with(*[requests.ConnectTimeout("slow")] * 2, retry=RetryPolicy(attempts=2))

    with pytest.raises(GitHubError, match=r"cannot reach https://api\.github\.com") as caught:
        client.get("/x")
    assert caught.value.fix is not None and "GITHUB_API_URL" in caught.value.fix


def test_429_waits_as_long_as_retry_after_says() -> None:
    client, _, sleeps = client_with(error(429, "slow down", **{"Retry-After": "7"}), ok())

    client.post("/repos/o/r/issues/1/comments", {"body": "x"})
    assert sleeps == [7.0]


def test_403_secondary_rate_limit_with_retry_after_is_retried() -> None:
    client, _, sleeps = client_with(error(403, "You have exceeded a secondary rate limit", **{"Retry-After": "3"}),
                                    ok())

    client.get("/x")
    assert sleeps == [3.0]


def test_exhausted_primary_rate_limit_waits_until_the_reset() -> None:
    limited = error(403, "API rate limit exceeded", **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1000"})
    client, _, sleeps = client_with(limited, ok(), clock=lambda: 990.0)

    client.get("/x")
    assert sleeps == [11.0]


def test_rate_limit_past_the_wait_budget_fails_with_advice() -> None:
    client, transport, sleeps = client_with(error(429, "slow down", **{"Retry-After": "3600"}))

    with pytest.raises(GitHubError, match="rate-limited") as caught:
        client.get("/x")
    assert sleeps == []
    assert len(transport.sent) == 1
    assert caught.value.fix is not None and "re-run" in caught.value.fix


def test_403_on_comments_names_the_permission_and_the_yaml_fix() -> None:
    client, transport, sleeps = client_with(
        ok([]), error(403, "Resource not accessible by integration"))

    with pytest.raises(GitHubError) as caught:
        upsert_sticky_comment(client, "o/r", 5, "report")
    problem = caught.value
    assert problem.status == 403
    assert "the token lacks pull-requests: write" in problem.message
    assert "Resource not accessible by integration" in problem.message
    assert problem.fix is not None
    assert f"permissions: {{{REPORT_PERMISSIONS}}}" in problem.fix
    assert REPORT_PERMISSIONS == "contents: read, pull-requests: write, checks: write"
    assert "\n" not in problem.one_line()
    assert sleeps == [] and len(transport.sent) == 2


def test_401_says_the_token_was_rejected_without_retrying() -> None:
    client, transport, _ = client_with(error(401, "Bad credentials"))

    with pytest.raises(GitHubError, match="rejected the token") as caught:
        client.get("/x")
    assert caught.value.status == 401
    assert caught.value.fix is not None and "GITHUB_TOKEN" in caught.value.fix
    assert len(transport.sent) == 1


def test_404_says_what_may_be_missing() -> None:
    client, transport, _ = client_with(error(404, "Not Found"))

    with pytest.raises(GitHubError, match="not found") as caught:
        client.get("/repos/o/missing")
    assert "GET /repos/o/missing" in caught.value.message
    assert caught.value.fix is not None and "--repo" in caught.value.fix
    assert len(transport.sent) == 1


def test_422_reports_githubs_field_errors() -> None:
    client, _, _ = client_with((422, {}, {"message": "Validation Failed",
                                          "errors": [{"field": "body", "code": "too_long"}]}))

    with pytest.raises(GitHubError, match="body: too_long"):
        client.post("/x", {"body": "x"})


def test_enterprise_server_base_url_and_headers() -> None:
    env = {"GITHUB_TOKEN": "ghe-token", "GITHUB_API_URL": "https://ghe.example.com/api/v3/"}
    transport = Scripted(ok())
    session = requests.Session()
    session.mount("https://", transport)

    GitHubClient.from_env(env, session=session).get("/repos/o/r")

    sent = transport.sent[0]
    assert sent.url == "https://ghe.example.com/api/v3/repos/o/r"
    assert sent.headers["Authorization"] == "Bearer ghe-token"
    assert sent.headers["Accept"] == "application/vnd.github+json"
    assert sent.headers["X-GitHub-Api-Version"] == "2022-11-28"


def test_default_api_url_is_github_com() -> None:
    client = GitHubClient.from_env({"GITHUB_TOKEN": "t"})
    assert client.api_url == "https://api.github.com"


def test_missing_token_is_an_error_with_the_env_snippet() -> None:
    with pytest.raises(GitHubError) as caught:
        GitHubClient.from_env({})
    assert caught.value.fix is not None and "GITHUB_TOKEN: ${{ github.token }}" in caught.value.fix


def test_pagination_follows_link_headers() -> None:
    page2 = "https://api.github.com/repos/o/r/issues/1/comments?per_page=100&page=2"
    client, transport, _ = client_with(ok([{"id": 1}], Link=f'<{page2}>; rel="next"'), ok([{"id": 2}]))

    assert [c["id"] for c in client.paginate("/repos/o/r/issues/1/comments")] == [1, 2]
    assert transport.sent[0].url == "https://api.github.com/repos/o/r/issues/1/comments?per_page=100"
    assert transport.sent[1].url == page2


def test_pagination_never_sends_the_token_to_another_host() -> None:
    client, transport, _ = client_with(ok([{"id": 1}], Link='<https://evil.example/next>; rel="next"'))

    with pytest.raises(GitHubError, match="next-page link"):
        list(client.paginate("/repos/o/r/issues/1/comments"))
    assert len(transport.sent) == 1


# --- a POST creates: never sent twice when GitHub may have carried it out ---------------------------------

def posts(transport: Scripted) -> list[requests.PreparedRequest]:
    return [request for request in transport.sent if request.method == "POST"]


def test_a_post_whose_answer_timed_out_is_not_sent_again_without_a_way_to_look_it_up() -> None:
    client, transport, _ = client_with(requests.ReadTimeout("slow"), ok())
    with pytest.raises(GitHubError, match=r"may have carried it out; it was not sent again") as caught:
        client.post("/repos/o/r/issues", {"title": "t"})
    assert len(posts(transport)) == 1
    assert caught.value.fix is not None and "re-run" in caught.value.fix


def test_a_post_answered_502_is_looked_up_and_the_one_it_created_returned() -> None:
    client, transport, _ = client_with(error(502, "Bad Gateway"))
    found = {"id": 9, "html_url": "https://github.com/o/r/issues/9"}
    assert client.post("/repos/o/r/issues", {"title": "t"}, recover=lambda: found) == found
    assert len(posts(transport)) == 1


def test_a_lost_post_that_created_nothing_is_sent_again() -> None:
    client, transport, sleeps = client_with(requests.ReadTimeout("slow"), (201, {}, {"id": 3}))
    assert client.post("/repos/o/r/issues", {"title": "t"}, recover=lambda: None) == {"id": 3}
    assert len(posts(transport)) == 2 and sleeps == [1.0]


def test_a_post_that_never_connected_or_was_rate_limited_is_sent_again() -> None:
    client, transport, _ = client_with(requests.ConnectTimeout("no route"), error(429, "slow down", **{
        "Retry-After": "2"}), (201, {}, {"id": 4}))
    assert client.post("/repos/o/r/issues", {"title": "t"}) == {"id": 4}
    assert len(posts(transport)) == 3


def test_a_sticky_comment_whose_answer_was_lost_is_found_not_posted_twice() -> None:
    mine = {"id": 11, "body": "<!-- mlcd:report -->\nreport", "html_url": "https://github.com/o/r/pull/5#c11",
            "user": {"login": "github-actions[bot]"}}
    client, transport, _ = client_with(ok([]), requests.ReadTimeout("slow"), ok([mine]))
    comment = upsert_sticky_comment(client, "o/r", 5, "report")
    assert (comment.id, comment.created) == (11, True)
    assert len(posts(transport)) == 1


def test_a_check_run_without_html_url_is_no_traceback() -> None:
    from mlcd.github import create_check_run

    client, _, _ = client_with((201, {}, {"id": 7}))
    check = create_check_run(client, "o/r", "a" * 40, conclusion="success", title="t", summary="s")
    assert (check.kind, check.id, check.url) == ("check-run", 7, "")
