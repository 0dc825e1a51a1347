"""Evaluation: metrics on the holdout, per-slice metrics, and gate verdicts."""
