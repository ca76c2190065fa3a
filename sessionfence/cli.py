"""The `sessionfence` command line.

Each subcommand is a module in `sessionfence.commands` with `HELP`,
`add_arguments(parser)` and `run(args) -> int` (exit status).

Exit status: 0 ok, 1 a mismatch or divergence, 2 bad input (one line on
stderr saying what is wrong), 3 an internal error (one line; the traceback
with SESSIONFENCE_DEBUG=1), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import traceback

COMMANDS = ("verify", "traces", "replay", "hunt", "check-log", "classify", "diagram", "report")
EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
DEBUG_ENV = "SESSIONFENCE_DEBUG"


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print the whole usage block
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def versions() -> dict:
    """What a bug report needs: ours, Z3's and Python's version."""
    from sessionfence import __version__

    try:
        import z3

        z3_version = z3.get_version_string()
    except Exception:  # z3 missing or broken: say so rather than fail --version
        z3_version = "unavailable"
    return {"version": __version__, "z3": z3_version, "python": platform.python_version()}


def version_line() -> str:
    v = versions()
    return f"sessionfence {v['version']} (z3 {v['z3']}, Python {v['python']})"


class _Version(argparse.Action):
    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_line())
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sessionfence",
        description="Prove, test and implement the session-file fingerprint fence.",
        epilog="Exit status: 0 ok, 1 mismatch or divergence, 2 bad input, 3 internal error.",
    )
    parser.add_argument("--version", action=_Version,
                        help="print the versions of sessionfence, Z3 and Python, and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"sessionfence.commands.{name.replace('-', '_')}")
        cmd = sub.add_parser(name, help=module.HELP, description=module.__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(run=module.run)
    return parser


def main(argv=None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "run", None) is None:
            raise UsageError(f"say which command: {', '.join(COMMANDS)} (see 'sessionfence --help')")
        return args.run(args)
    except UsageError as exc:
        print(f"sessionfence: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("sessionfence: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_MISMATCH
    except SystemExit:
        raise
    except Exception as exc:  # a bug: one line, the traceback only on request
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        message = " ".join(str(exc).split()) or "(no message)"
        if len(message) > 300:
            message = message[:300] + "..."
        print(f"sessionfence: internal error: {type(exc).__name__}: {message} (please report; "
              f"rerun with {DEBUG_ENV}=1 for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
