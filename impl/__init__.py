"""The reference implementation on real files.

    from sessionfence.impl import SessionController

    with SessionController("session.jsonl") as ctrl:      # start: lock + fence
        ctrl.append({"role": "user", "text": "hi"})       # validated, published
        ctrl.release_for_prompt()                         # check, release the lock
        ctrl.reacquire_after_prompt()                     # lock, check (or takeover)

See docs/impl.md for the guarantees, their limits and every error.
"""

from sessionfence.impl._controller import PHASES, STEPS, SessionController
from sessionfence.impl._errors import (
    ProtocolError,
    SessionFenceError,
    SessionLockError,
    SessionLockTimeout,
    SessionTakeoverError,
    TornTailError,
    TranscriptError,
    TranscriptWriteError,
)
from sessionfence.impl._fingerprint import (
    FINGERPRINT_MODES,
    MISSING,
    Fingerprint,
    digest_fingerprint,
    stat_fingerprint,
)
from sessionfence.impl._event_log import EventLog
from sessionfence.impl._lock import SessionLock
from sessionfence.impl._lock_payload import LockInfo, parse_payload
from sessionfence.impl._lock_slots import install_exit_handlers
from sessionfence.impl._policies import (
    POLICIES,
    WRITE_MODES,
    BroadPublicationPolicy,
    FenceContext,
    NarrowPublicationPolicy,
    Policy,
    ReferencePolicy,
    StrictFingerprintPolicy,
    get_policy,
)
from sessionfence.impl._proc import LinuxProcTable, ProcTable
from sessionfence.impl._registry import (
    FileState,
    PolicyMismatchError,
    Registry,
    RegistrySnapshot,
    default_registry,
)
from sessionfence.impl._section import PROBE_POINTS, WriteSection, set_probe
from sessionfence.impl._transcript import (
    FSYNC_MODES,
    TranscriptRead,
    encode_record,
    encode_records,
    read_transcript,
)

__all__ = [
    "BroadPublicationPolicy",
    "EventLog",
    "FINGERPRINT_MODES",
    "FSYNC_MODES",
    "FenceContext",
    "FileState",
    "Fingerprint",
    "LinuxProcTable",
    "LockInfo",
    "MISSING",
    "NarrowPublicationPolicy",
    "PHASES",
    "POLICIES",
    "PROBE_POINTS",
    "Policy",
    "PolicyMismatchError",
    "ProcTable",
    "ProtocolError",
    "ReferencePolicy",
    "Registry",
    "RegistrySnapshot",
    "STEPS",
    "SessionController",
    "SessionFenceError",
    "SessionLock",
    "SessionLockError",
    "SessionLockTimeout",
    "SessionTakeoverError",
    "StrictFingerprintPolicy",
    "TornTailError",
    "TranscriptError",
    "TranscriptRead",
    "TranscriptWriteError",
    "WRITE_MODES",
    "WriteSection",
    "default_registry",
    "digest_fingerprint",
    "encode_record",
    "encode_records",
    "get_policy",
    "install_exit_handlers",
    "parse_payload",
    "read_transcript",
    "set_probe",
    "stat_fingerprint",
]
