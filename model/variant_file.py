"""Loading a maintainer's own variant from a Python file.

The file defines `VARIANT` (one `Variant`) or `VARIANTS` (a list), usually
derived from a built-in design with one fence rule changed:

    from sessionfence.model import builtin, state as S

    VARIANT = builtin("reference").derive(
        "reference-size-only",
        summary="finish_write trusts the size arithmetic only",
        write_ok=lambda c: S.file == S.mine[c],
    )

Any problem is reported as one `VariantFileError` line naming the file and,
where there is one, the line.
"""

from __future__ import annotations

import os
import runpy
import traceback

from sessionfence.model.machine import ModelDefinitionError, build
from sessionfence.model.variants import BUILTIN, Variant


class VariantFileError(Exception):
    """The variant file cannot be loaded; the message says where and why."""


def load(path: str) -> list[Variant]:
    if not os.path.exists(path):
        raise VariantFileError(f"variant file {path}: no such file")
    if os.path.isdir(path):
        raise VariantFileError(f"variant file {path}: is a directory, expected a .py file")
    try:
        namespace = runpy.run_path(path, run_name="sessionfence_variant_file")
    except SyntaxError as exc:
        raise VariantFileError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except SystemExit as exc:  # a variant file that exits is an error, never a pass
        line = _line_in(path, exc)
        where = f"{path}:{line}" if line else path
        raise VariantFileError(f"{where}: the variant file called sys.exit({exc.code!r}); "
                               f"it must define VARIANT or VARIANTS and return") from None
    except RecursionError:
        raise VariantFileError(f"{path}: recursion too deep while loading the file") from None
    except ModelDefinitionError as exc:
        # Declaring the variant built it: the message names file, line, step, rule.
        text = str(exc)
        line = _line_in(path, exc)
        raise VariantFileError(text if ".py:" in text.split(" ")[0] else
                               f"{path}:{line or '?'}: {text}") from None
    except Exception as exc:  # the maintainer's code: report where it failed
        line = _line_in(path, exc)
        where = f"{path}:{line}" if line else path
        raise VariantFileError(f"{where}: {type(exc).__name__}: {exc}") from None
    found = namespace.get("VARIANTS", namespace.get("VARIANT"))
    if found is None:
        raise VariantFileError(
            f"variant file {path}: defines neither VARIANT nor VARIANTS; "
            "assign VARIANT = builtin(\"reference\").derive(...)"
        )
    items = list(found) if isinstance(found, (list, tuple)) else [found]
    for item in items:
        if not isinstance(item, Variant):
            raise VariantFileError(
                f"variant file {path}: expected Variant objects, got {type(item).__name__}"
            )
        if item.name in BUILTIN:
            raise VariantFileError(
                f"variant file {path}: variant name {item.name!r} is a built-in name; "
                "give your variant a name of its own"
            )
        # Build it once now: a rule that raises, assigns what it may not or
        # reads a ghost is reported here, naming file, line, step and rule.
        try:
            build(item)
        except ModelDefinitionError as exc:
            text = str(exc)
            raise VariantFileError(text if text.startswith(path) or ".py:" in text.split(" ")[0]
                                   else f"{path}: {text}") from None
    return items


def _line_in(path: str, exc: BaseException):
    real = os.path.realpath(path)
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.realpath(frame.filename) == real:
            line = frame.lineno
    return line
