"""The pull request's report from the files the run wrote: the comparison (`mlcd compare`) with the shadow
replay (`mlcd shadow`) when production logs are configured, or, for a run that could not train, what
stopped it with the data tests' result."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlcd.compare.run import Comparison
from mlcd.config import Config
from mlcd.data.result import read_result
from mlcd.errors import InputError
from mlcd.evaluation.shadow_result import read_shadow
from mlcd.report.markdown import failure_report, render
from mlcd.report.shadow import shadow_section, with_shadow_gate


@dataclass(frozen=True)
class Report:
    markdown: str
    passed: bool  # every gate passed (the comparison's and the churn gate): the "mlcd / gates" check's conclusion


def report_markdown(config: Config, comparison_file: Path, env: Mapping[str, str], *, failed: str | None = None,
                    data_test_file: Path | None = None, shadow_file: Path | None = None) -> Report:
    """The report: of the comparison (and the shadow replay), or (``failed`` names the stage that stopped the
    run) of the failure, which never passes."""
    if failed:
        return Report(failure_report(failed, _data_tests(data_test_file), config.model.name, env), passed=False)
    comparison = read_comparison(comparison_file)
    section: list[str] = []
    if shadow_file is not None:
        shadow = read_shadow(shadow_file)
        comparison = with_shadow_gate(comparison, shadow, config.gates.max_prediction_churn)
        section = shadow_section(shadow, comparison)
    markdown = render(comparison, config.model.name, env, config.model.path, shadow=section)
    return Report(markdown, comparison.passed)


def _data_tests(path: Path | None) -> dict[str, Any] | None:
    found = read_result(path, if_present=True) if path else None
    return found.document if found else None


def read_comparison(source: Path) -> Comparison:
    try:
        comparison = Comparison.from_json(json.loads(source.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InputError(f"{source} does not exist", fix="run `mlcd compare` first") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"{source} is not a comparison written by `mlcd compare` ({exc})",
                         fix="re-run `mlcd compare`") from None
    return comparison
