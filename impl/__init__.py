"""The reference implementation on real files."""
