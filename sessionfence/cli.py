"""The `sessionfence` command line.

Each subcommand is a module in `sessionfence.commands` with `HELP`,
`add_arguments(parser)` and `run(args) -> int` (exit status). Usage errors
are one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("verify", "traces", "replay", "diagram", "report")


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print the whole usage block
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sessionfence",
        description="Prove, test and implement the session-file fingerprint fence.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"sessionfence.commands.{name}")
        cmd = sub.add_parser(name, help=module.HELP, description=module.__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(run=module.run)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if getattr(args, "run", None) is None:
            raise UsageError(f"say which command: {', '.join(COMMANDS)} (see 'sessionfence --help')")
        return args.run(args)
    except UsageError as exc:
        print(f"sessionfence: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sessionfence: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
