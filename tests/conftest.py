"""Fixtures shared by every test directory."""

# --- GitHub REST API stand-in (testing/github_standin): github_openapi, github_standin -------------------
from testing.github_standin.fixtures import github_openapi, github_standin

__all__ = ["github_openapi", "github_standin"]
# --- end GitHub REST API stand-in ----------------------------------------------------------------------


# --- data test (mlcd data test): penguins_csv, template_config, data_project ---------------------------
import shutil
from pathlib import Path

import pytest

from mlcd.config import Config, load_config

TEMPLATE_CONFIG = Path(__file__).resolve().parents[1] / "template-repo" / "mlcd.yaml"


@pytest.fixture(scope="session")
def penguins_csv() -> Path:
    """The real Palmer penguins data (344 rows), as shipped by the palmerpenguins package."""
    import palmerpenguins

    return Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"


@pytest.fixture(scope="session")
def template_config() -> Config:
    """The template project's mlcd.yaml, loaded: the contract every fault test starts from."""
    return load_config(str(TEMPLATE_CONFIG))


@pytest.fixture
def data_project(tmp_path: Path, penguins_csv: Path) -> Path:
    """A temp project: the template mlcd.yaml and the penguins data at data.path. Returns its root."""
    shutil.copy(TEMPLATE_CONFIG, tmp_path / "mlcd.yaml")
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    shutil.copy(penguins_csv, raw / "penguins.csv")
    return tmp_path
# --- end data test ------------------------------------------------------------------------------------


# --- what mlcd prints: terminal -----------------------------------------------------------------------
import io  # noqa: E402

import mlcd.output  # noqa: E402


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What mlcd prints, as a terminal sees it (no GitHub Actions annotations)."""
    stream = io.StringIO()
    monkeypatch.setattr(mlcd.output, "_default", mlcd.output.Output(stream, {}))
    return stream
