from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mlcd.github import COMMENT_LIMIT, SUMMARY_LIMIT, pull_request_from_event, truncate


def test_text_within_the_limit_is_unchanged() -> None:
    text = "x" * COMMENT_LIMIT
    assert truncate(text, COMMENT_LIMIT) is text


def test_long_text_is_cut_at_a_line_with_a_note() -> None:
    text = "\n".join(f"| row {i} | {'v' * 50} |" for i in range(5000))

    cut = truncate(text, SUMMARY_LIMIT)

    assert len(cut) <= SUMMARY_LIMIT
    head, note = cut.split("\n\n> [!NOTE]\n")
    assert text.startswith(head) and head.endswith("|")
    assert "65,535 characters" in note
    assert f"{len(text) - len(head):,} characters were left out" in note


def test_an_open_code_fence_and_details_are_closed() -> None:
    text = "<details><summary>all</summary>\n\n```\n" + "line\n" * 20000

    cut = truncate(text, COMMENT_LIMIT)

    assert len(cut) <= COMMENT_LIMIT
    body = cut.split("\n\n> [!NOTE]")[0]
    assert body.endswith("\n```\n</details>")


@given(st.text(min_size=1, max_size=3000), st.integers(min_value=300, max_value=2000))
def test_truncation_always_fits_and_keeps_the_start(text: str, limit: int) -> None:
    cut = truncate(text, limit)
    assert len(cut) <= limit
    if len(text) <= limit:
        assert cut == text
    else:
        assert "characters were left out" in cut or cut == text[:limit]


def test_pull_request_event() -> None:
    event = {"pull_request": {"number": 12, "head": {"sha": "a" * 40}}}
    assert pull_request_from_event(event) == (12, "a" * 40)


def test_workflow_run_event() -> None:
    event = {"workflow_run": {"head_sha": "b" * 40, "pull_requests": [{"number": 3}]}}
    assert pull_request_from_event(event) == (3, "b" * 40)
    assert pull_request_from_event({"workflow_run": {"head_sha": "b" * 40, "pull_requests": []}}) == (None, "b" * 40)


def test_comment_on_a_pull_request_and_push_events() -> None:
    assert pull_request_from_event({"issue": {"number": 4, "pull_request": {}}}) == (4, None)
    assert pull_request_from_event({"issue": {"number": 4}}) == (None, None)
    assert pull_request_from_event({"ref": "refs/heads/main"}) == (None, None)
