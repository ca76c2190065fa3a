"""What the runtime's own transcript lines look like, and how to tell.

Upstream's later fences (upstream-designs.md §1.2, §1.5, §1.6) trust lines
by their JSON fields: an appended line "looks like the runtime's own" if it
is a message entry of role `assistant` from provider `openclaw`, model
`delivery-mirror` or `gateway-injected`; validate-on-assert accepts any
well-formed session entry of role `assistant`, `toolResult` or
`bashExecution`. Any process can write such a line: that is the forged
append the model's external writer performs.

The shape (one JSON object per line):

    {"type": "message", "id": "...", "parentId": "...", "timestamp": "...",
     "message": {"role": "assistant", "provider": "openclaw",
                 "model": "delivery-mirror", "content": [{"type": "text", "text": "..."}]}}
"""

from __future__ import annotations

import json
from typing import Optional

RUNTIME_MODELS = ("delivery-mirror", "gateway-injected")
SESSION_ROLES = ("assistant", "toolResult", "bashExecution")


def runtime_line(ident: str, text: str = "", parent: Optional[str] = None) -> bytes:
    """One line in the runtime's own shape (what the runtime appends)."""
    entry = {
        "type": "message",
        "id": ident,
        "parentId": parent,
        "timestamp": "2026-01-01T00:00:00.000Z",
        "message": {"role": "assistant", "provider": "openclaw", "model": RUNTIME_MODELS[0],
                    "content": [{"type": "text", "text": text or ident}]},
    }
    return (json.dumps(entry, separators=(",", ":")) + "\n").encode()


def _message(line: bytes) -> Optional[dict]:
    try:
        entry = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(entry, dict) or entry.get("type") != "message":
        return None
    message = entry.get("message")
    return message if isinstance(message, dict) else None


def looks_like_runtime(line: bytes) -> bool:
    """A line upstream's benign-advance check takes for the runtime's own."""
    m = _message(line)
    return (m is not None and m.get("role") == "assistant" and m.get("provider") == "openclaw"
            and m.get("model") in RUNTIME_MODELS)


def is_session_entry(line: bytes) -> bool:
    """A line validate-on-assert takes for a well-formed session entry."""
    m = _message(line)
    return m is not None and m.get("role") in SESSION_ROLES


def all_lines(data: bytes, accept) -> bool:
    """`data` is whole lines (ends with a newline), each passing `accept`."""
    if not data or not data.endswith(b"\n"):
        return False
    return all(accept(line) for line in data[:-1].split(b"\n"))
