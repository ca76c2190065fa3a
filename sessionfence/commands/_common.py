"""Argument handling shared by the subcommands (variants, controllers, depth),
the variant-file loader, and the envelope of every `--json` document."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional

from sessionfence.cli import UsageError, versions
from sessionfence.model import variant_file
from sessionfence.model.concrete import MAX_CONTROLLERS
from sessionfence.model.machine import build
from sessionfence.model.variants import BUILTIN, Variant
from sessionfence.model.world import ABA_READINGS, FINGERPRINTS, TIMESTAMPS, World, parse_kinds

MAX_DEPTH = 100
JSON_SCHEMA = 1  # raised when a field changes meaning or goes away (docs/json-output.md)


def json_document(command: str, body: dict) -> dict:
    """`body` with the keys every --json document starts with."""
    v = versions()
    return {"schema": JSON_SCHEMA, "command": command, "version": v["version"], "z3": v["z3"],
            **body}


def print_json(command: str, body: dict) -> None:
    json.dump(json_document(command, body), sys.stdout, indent=2)
    sys.stdout.write("\n")


def load_variant_file(path: str) -> list[Variant]:
    """The variants a --variant-file defines, each built once (with and without
    atomic write sections), so that a rule that raises or returns nonsense is
    one usage line naming the file and line, not a traceback later."""
    try:
        found = variant_file.load(path)
    except variant_file.VariantFileError as exc:
        raise UsageError(str(exc)) from None
    for variant in found:
        for atomic in (False, True):
            try:
                build(variant, atomic_writes=atomic)
            except Exception as exc:  # the maintainer's rule code: say where it failed
                line = variant_file._line_in(path, exc)
                where = f"{path}:{line}" if line else path
                message = " ".join(str(exc).split())
                raise UsageError(f"{where}: variant {variant.name!r} cannot be built: "
                                 f"{type(exc).__name__}: {message}") from None
    return found


def variant_source(variant: Variant, args) -> Optional[str]:
    """Where a worker process finds `variant` again: None for a built-in,
    else the variant file it was defined in."""
    return None if BUILTIN.get(variant.name) is variant else args.variant_file


def jobs(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a number of processes >= 1, got {value!r}")
    return n


def add_jobs_argument(parser: argparse.ArgumentParser) -> None:
    from sessionfence.cells import default_jobs

    parser.add_argument("--jobs", "-j", type=jobs, default=default_jobs(), metavar="N",
                        help="check (variant, fingerprint mode) pairs in N processes "
                        "(default: the number of cores, here %(default)s)")


def add_variant_arguments(parser: argparse.ArgumentParser, *, many: bool = True) -> None:
    if many:
        parser.add_argument("--variant", action="append", default=[], metavar="NAME",
                            help=f"a built-in variant ({', '.join(BUILTIN)}); repeatable")
        parser.add_argument("--all", action="store_true", help="every built-in variant")
    else:
        parser.add_argument("--variant", metavar="NAME", help=f"one of {', '.join(BUILTIN)}, "
                            "or a variant defined in --variant-file")
    parser.add_argument("--variant-file", metavar="PATH",
                        help="a Python file defining VARIANT or VARIANTS (your fence change)")


def resolve_variants(args, *, many: bool = True) -> list[Variant]:
    """The variants the user asked for, or a UsageError saying what is wrong."""
    from_file = load_variant_file(args.variant_file) if args.variant_file else []
    known = {**BUILTIN, **{v.name: v for v in from_file}}
    names = args.variant if many else ([args.variant] if args.variant else [])
    for name in names:
        if name not in known:
            raise UsageError(f"unknown variant {name!r}; known variants: {', '.join(known)}")
    if many:
        chosen = list(BUILTIN.values()) if args.all else [known[n] for n in names]
        chosen += [v for v in from_file if v.name not in {c.name for c in chosen}]
        if not chosen:
            raise UsageError("say which variants to check: --variant NAME, --all or --variant-file PATH")
        return chosen
    if names:
        return [known[names[0]]]
    if len(from_file) == 1:
        return from_file
    raise UsageError("say which variant: --variant NAME" +
                     (f" (the file defines {', '.join(v.name for v in from_file)})" if from_file else ""))


def controllers(value: str):
    """`--controllers N` (1..6) or `any`."""
    if value == "any":
        return "any"
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number from 1 to {MAX_CONTROLLERS} or 'any', got {value!r}") from None
    if not 1 <= n <= MAX_CONTROLLERS:
        raise argparse.ArgumentTypeError(
            f"controllers must be from 1 to {MAX_CONTROLLERS} (or 'any'), got {n}")
    return n


def fixed_controllers(value: str) -> int:
    n = controllers(value)
    if n == "any":
        raise argparse.ArgumentTypeError("this command needs a fixed number of controllers (1 to 6)")
    return n


def depth(value: str) -> int:
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of steps, got {value!r}") from None
    if not 1 <= k <= MAX_DEPTH:
        raise argparse.ArgumentTypeError(f"depth must be from 1 to {MAX_DEPTH} steps, got {k}")
    return k


def writable_directory(path: str, flag: str = "--out") -> str:
    """Create `path` if needed and check that we can write there, before any
    long work whose result would otherwise be lost."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{flag} {path}: exists and is not a directory")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {flag} directory {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: directory is not writable; choose another")
    return path


def add_world_arguments(parser: argparse.ArgumentParser, *, both: bool = False) -> None:
    """The world a model is checked in: fingerprints, external edits, readings."""
    if both:
        parser.add_argument("--fingerprint", choices=FINGERPRINTS + ("both",), default="both",
                            help="fingerprint mode of the model: digest (injective, the brief's "
                            "assumption), stat (a same-size rewrite can be invisible) or both "
                            "(default)")
    else:
        parser.add_argument("--fingerprint", choices=FINGERPRINTS, default="digest",
                            help="fingerprint mode of the model (default digest)")
    parser.add_argument("--timestamps", choices=TIMESTAMPS, default="coarse",
                        help="stat mode: coarse (a same-size rewrite is invisible anywhere; "
                        "default) or multigrain (only inside a holder's own write window)")
    parser.add_argument("--external", type=_kinds, default=None, metavar="KIND,...",
                        help="restrict the external edits to these kinds (append, forged-append, "
                        "prefix-rewrite, same-size-rewrite, replace, truncate, delete)")
    parser.add_argument("--atomic-writes", action="store_true",
                        help="make each write section atomic with respect to the external writer")
    parser.add_argument("--aba", choices=ABA_READINGS, default="content",
                        help="how the properties read an undone edit: content (an accept of "
                        "bytes identical to what the controller had is no violation; default) "
                        "or history (any accept after an external edit is)")


def _kinds(value: str):
    try:
        return parse_kinds(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def worlds(args) -> list:
    """The worlds the command line asks for (one per fingerprint mode)."""
    modes = FINGERPRINTS if args.fingerprint == "both" else (args.fingerprint,)
    base = dict(timestamps=args.timestamps, atomic_writes=args.atomic_writes, aba=args.aba)
    if args.external:
        base["kinds"] = args.external
    return [World(fingerprint=m, **base) for m in modes]
