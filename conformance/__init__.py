"""Conformance between the model and the implementation."""
