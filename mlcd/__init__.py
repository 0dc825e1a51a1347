"""mlcd: continuous delivery for machine learning on GitHub Actions."""

__version__ = "0.1.0"

__all__ = ["__version__"]
