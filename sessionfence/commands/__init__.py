"""Subcommands of the sessionfence CLI."""
