"""Validate an implementation's event log against a model variant.

The Python implementation writes the log when a controller is given one
(`SessionController(..., event_log="events.jsonl")`; schema in
docs/event-log.md). Every event is explained by a run of the variant's
model; external writes, which no log records, are inferred where an event
needs one (the fewest first). The first event the model cannot explain is
reported with what the model would have done there. Every takeover is
called explained (an external write while its controller was alive is
consistent with the log) or a false takeover (none is).

Exit status: 0 the model explains the log and every takeover, 1 an event the
model cannot explain, 4 a false takeover (precision violated), 2 bad input.

Examples:
  sessionfence check-log events.jsonl --variant reference
  sessionfence check-log events.jsonl --variant narrow-publication --json
"""

from __future__ import annotations

import sys

from sessionfence.cli import UsageError
from sessionfence.commands import _common
from sessionfence.model.variants import BUILTIN

HELP = "validate an implementation's event log against a model variant"


def add_arguments(parser) -> None:
    parser.add_argument("log", metavar="LOG", help="the event log (JSON Lines)")
    parser.add_argument("--variant", required=True, metavar="V",
                        help=f"the model variant to explain it with ({', '.join(BUILTIN)}, "
                        "or one from --variant-file)")
    parser.add_argument("--variant-file", metavar="PATH",
                        help="a Python file defining your own variant(s)")
    parser.add_argument("--transcript", metavar="PATH",
                        help="check only the events of this transcript (needed when the log "
                        "holds several)")
    parser.add_argument("--json", action="store_true",
                        help="machine-readable output on stdout (docs/json-output.md)")


def run(args) -> int:
    from sessionfence.conformance import log_check as L

    known = dict(BUILTIN)
    if args.variant_file:
        known.update({v.name: v for v in _common.load_variant_file(args.variant_file)})
    variant = known.get(args.variant)
    if variant is None:
        raise UsageError(f"unknown variant {args.variant!r}; the variants are "
                         f"{', '.join(known)}")
    try:
        events = L.read_log(args.log)
    except L.BadLog as exc:
        print(f"sessionfence: error: {exc}", file=sys.stderr)
        return 2
    transcripts = list(dict.fromkeys(e.transcript for e in events))
    if args.transcript is not None:
        events = [e for e in events if e.transcript == args.transcript]
        if not events:
            raise UsageError(f"--transcript {args.transcript}: no event of the log concerns it; "
                             f"the log has {', '.join(transcripts)}")
    elif len(transcripts) > 1:
        raise UsageError(f"{args.log}: the log holds events of {len(transcripts)} transcripts; "
                         f"choose one with --transcript ({', '.join(transcripts[:3])}"
                         f"{', ...' if len(transcripts) > 3 else ''})")
    modes = {e.fingerprint_mode for e in events}
    if len(modes) > 1:
        raise UsageError(f"{args.log}: the controllers used different fingerprint modes "
                         f"({', '.join(sorted(modes))}); one model world cannot explain both")
    if len(set(e.controller for e in events)) > 6:
        raise UsageError(f"{args.log}: more than 6 controllers; the model goes up to 6")
    result = L.check(events, variant)
    status = 1 if result.unexplained else (4 if result.false_takeovers else 0)
    if args.json:
        _common.print_json("check-log", to_json(result, args, status))
    else:
        print_human(result, args)
    return status


def to_json(r, args, status: int) -> dict:
    ev = r.unexplained
    return {
        "exit_status": status,
        "log": args.log,
        "variant": r.variant,
        "fingerprint": r.fingerprint_mode,
        "controllers": r.controllers,
        "events": r.events,
        "explained": r.checked,
        "errors": r.errors,
        "unexplained": None if ev is None else {
            "event": r.unexplained_index, "line": ev.line, "label": ev.label(),
            "outcome": ev.outcome, "reason": r.reason},
        "inferred_writes": [{"before_event": i, "kind": k} for i, k in r.inferred],
        "takeovers": [{"event": t.event, "line": t.line, "label": t.label,
                       "explained": t.explained, "by_write_before_event": t.by}
                      for t in r.takeovers],
    }


def print_human(r, args) -> None:
    print(f"sessionfence check-log: {args.log}: {r.events} events of "
          f"{len(r.controllers)} controllers ({', '.join(r.controllers)}), "
          f"{r.fingerprint_mode} fingerprints, variant {r.variant}")
    if r.errors:
        print(f"  {r.errors} events with outcome error (not model steps) were skipped")
    for t in r.takeovers:
        if t.explained:
            where = f" (an external write inferred before event {t.by})" if t.by else ""
            print(f"  takeover at event {t.event} (line {t.line}, {t.label}): explained by an "
                  f"external write while the controller was alive{where}")
        else:
            print(f"  FALSE TAKEOVER at event {t.event} (line {t.line}, {t.label}): no "
                  "explanation of the log has an external write while the controller was "
                  "alive (precision)")
    if r.unexplained is not None:
        ev = r.unexplained
        print(f"  UNEXPLAINED event {r.unexplained_index} (line {ev.line}, {ev.label()} -> "
              f"{ev.outcome}): {r.reason}")
        print(f"the model of {r.variant} explains the first {r.checked} events, not event "
              f"{r.unexplained_index}")
        return
    writes = ", ".join(f"before event {i} ({k})" for i, k in r.inferred)
    print(f"the model of {r.variant} explains all {r.checked} events"
          + (f"; external writes inferred: {writes} (kinds: one possibility)" if writes
             else "; no external write was needed"))
