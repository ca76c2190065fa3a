"""sessionfence: prove, test and implement the session-file fingerprint fence."""

__version__ = "0.1.0"  # the one place; pyproject.toml reads it
