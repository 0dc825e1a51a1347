"""The Dockerfile renderer: layer order, hermetic installs, hardening, labels. Pure, no Docker."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlcd.packaging.dockerfile import ImageSpec, is_pinned, quote, render_dockerfile, render_requirements

DIGEST = "sha256:" + "a" * 64


def spec(**changes: object) -> ImageSpec:
    values: dict[str, object] = {
        "base_image": "python:3.11-slim",
        "model_path": "models/model.skops",
        "lineage_path": "models/model.lineage.json",
        "mlcd_version": "0.1.0",
        "mlcd_wheel": "mlcd-0.1.0-py3-none-any.whl",
        "wheels_image": "mlcd-wheelhouse:0123456789abcdef",
        "labels": {"dev.mlcd.model.sha256": "f" * 64},
    }
    values.update(changes)
    return ImageSpec(**values)  # type: ignore[arg-type]


def lines_of(text: str) -> list[str]:
    """Instructions, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    return [line for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def index(lines: list[str], pattern: str) -> int:
    return next(i for i, line in enumerate(lines) if re.search(pattern, line))


def test_dependencies_come_before_mlcd_and_mlcd_before_the_model() -> None:
    lines = lines_of(render_dockerfile(spec()))
    dependencies = index(lines, r"--requirement /build/requirements.txt")
    final_stage = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    environment = index(lines, r"^COPY --from=runtime /opt/mlcd /opt/mlcd")
    server = index(lines, r"^COPY --from=server /opt/mlcd-server")
    model = index(lines, r"^COPY app/ /srv/mlcd/$")
    assert dependencies < final_stage < environment < server < model
    # after the model only metadata: nothing that would rebuild a layer when the model changes
    assert all(line.startswith("LABEL") or line.startswith("      ") for line in lines[model + 1:])
    assert [line for line in lines if line.startswith("COPY app/")] == [lines[model]]


def test_the_final_stage_has_neither_wheels_nor_installers() -> None:
    lines = lines_of(render_dockerfile(spec()))
    final = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")):]
    assert not [line for line in final if "wheels" in line or "pip install" in line]
    assert any("pip uninstall" in line and "pip setuptools" in line for line in lines)


def test_hermetic_builds_use_only_the_wheelhouse() -> None:
    text = render_dockerfile(spec())
    # the wheels come from their own image, not the build context: a rebuild does not resend them
    assert "COPY --from=mlcd-wheelhouse:0123456789abcdef /wheels/ /build/wheels/" in lines_of(text)
    assert "--no-index --find-links /build/wheels --requirement" in text
    assert "--no-deps --no-index --target /opt/mlcd-server /build/mlcd-dist/mlcd-0.1.0-py3-none-any.whl" in text


def test_without_a_wheelhouse_mlcd_and_its_dependencies_come_from_the_index() -> None:
    text = render_dockerfile(spec(wheels_image=None, mlcd_wheel=None))
    assert not [line for line in lines_of(text) if "wheels" in line or "--no-index" in line]
    assert "--no-deps --target /opt/mlcd-server mlcd==0.1.0" in text
    with pytest.raises(ValueError, match="hermetic build needs the mlcd wheel"):
        render_dockerfile(spec(mlcd_wheel=None))


def test_runs_unprivileged_with_a_healthcheck_and_no_build_args() -> None:
    text = render_dockerfile(spec(port=9000))
    lines = lines_of(text)
    assert "USER 10001:10001" in lines
    healthcheck = lines[index(lines, r"^HEALTHCHECK")]
    assert healthcheck.endswith('CMD ["/opt/mlcd/bin/python", "-m", "mlcd.serving.healthcheck"]') and "curl" not in text
    # an init as PID 1, from the wheelhouse like every dependency: the health check can then kill a hung server
    assert lines[index(lines, r"^ENTRYPOINT")] == \
        'ENTRYPOINT ["/opt/mlcd/bin/dumb-init", "--", "/opt/mlcd/bin/python", "-m", "mlcd", "serve", "--host", ' \
        '"0.0.0.0"]'
    assert "EXPOSE 9000" in lines and "MLCD_PORT=9000" in text
    assert not [line for line in lines if line.startswith("ARG")]
    assert "STOPSIGNAL SIGINT" in lines


def test_base_image_is_used_as_given_and_unpinned_bases_get_advice() -> None:
    pinned = f"python:3.11-slim@{DIGEST}"
    assert is_pinned(pinned) and not is_pinned("python:3.11-slim") and not is_pinned("python@sha256:abc")
    text = render_dockerfile(spec(base_image=pinned))
    assert [line for line in text.splitlines() if line.startswith("FROM ") and "AS" not in line] == [f"FROM {pinned}"]
    assert f"FROM {pinned} AS dependencies" in text
    assert "Pin the base image" not in text
    assert "Pin the base image" in render_dockerfile(spec())


def test_model_paths_keep_their_place_and_may_not_leave_the_project() -> None:
    text = render_dockerfile(spec(model_path="artifacts/clf.skops", lineage_path="artifacts/clf.lineage.json"))
    assert "# mlcd.yaml, artifacts/clf.skops and artifacts/clf.lineage.json." in text
    assert "MLCD_MODEL=/srv/mlcd/artifacts/clf.skops" in text
    for outside in ("../model.skops", "/etc/model.skops", "models/../../x.skops"):
        with pytest.raises(ValueError, match="not inside the project"):
            render_dockerfile(spec(model_path=outside))


def test_labels_are_sorted_and_quoted_for_the_dockerfile_parser() -> None:
    text = render_dockerfile(spec(labels={"b": 'say "hi" $HOME', "a": '{"x":1}'}))
    label = re.sub(r"\\\n\s*", "", text[text.index("LABEL"):])
    assert label.strip() == 'LABEL a="{\\"x\\":1}" b="say \\"hi\\" \\$HOME"'
    with pytest.raises(ValueError, match="line breaks"):
        quote("two\nlines")


def unquote(word: str) -> str:
    """Docker's rule for a double-quoted word: a backslash escapes ", \\ and $; other backslashes stay."""
    assert word[0] == word[-1] == '"'
    body, result, i = word[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and body[i + 1] in '"\\$':
            result.append(body[i + 1])
            i += 2
        else:
            assert body[i] not in '"$', f"unescaped {body[i]} in {word}"
            result.append(body[i])
            i += 1
    return "".join(result)


@given(st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",))))
def test_quote_round_trips_through_the_parsers_rule(value: str) -> None:
    assert unquote(quote(value)) == value


def test_requirements_file_lists_one_requirement_per_line() -> None:
    text = render_requirements(["numpy==2.0.0", "scikit-learn==1.5.0"])
    assert text.splitlines()[1:] == ["numpy==2.0.0", "scikit-learn==1.5.0"]
    assert text.splitlines()[0].startswith("#")
