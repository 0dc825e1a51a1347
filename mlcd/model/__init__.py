"""Model files: safe loading (skops with a trusted-type list) and content hashes."""

from mlcd.model.io import TRUSTED_MODULES, file_sha256, load_model, untrusted_types

__all__ = ["TRUSTED_MODULES", "file_sha256", "load_model", "untrusted_types"]
