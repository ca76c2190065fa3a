"""Fixtures for the implementation tests; helpers live in impl_support."""

from __future__ import annotations

from typing import Optional

import pytest

from impl_support import Helper
from sessionfence.impl import Registry, SessionController


@pytest.fixture
def transcript(tmp_path) -> str:
    """Path of a fresh transcript with two records already in it."""
    path = tmp_path / "session.jsonl"
    path.write_bytes(b'{"seq":0}\n{"seq":1}\n')
    return str(path)


@pytest.fixture
def registry() -> Registry:
    """A private registry, so tests never see each other's file states."""
    return Registry()


@pytest.fixture
def make_ctrl(transcript, registry):
    """Build controllers on the test transcript sharing the test registry."""
    made = []

    def make(policy: str = "reference", path: Optional[str] = None, **kw) -> SessionController:
        kw.setdefault("timeout", 5.0)
        ctrl = SessionController(path or transcript, policy=policy, registry=registry, **kw)
        made.append(ctrl)
        return ctrl

    yield make
    for ctrl in made:  # never leave a lock behind for the next test
        while ctrl.lock.held:
            ctrl.lock.release()


@pytest.fixture
def spawn_helper():
    """Start helper processes; all are stopped at the end of the test."""
    helpers = []

    def spawn(**kw) -> Helper:
        h = Helper(**kw)
        helpers.append(h)
        return h

    yield spawn
    for h in helpers:
        h.close()


@pytest.fixture(scope="module")
def ext_writer():
    """One external writer process shared by a module's tests."""
    h = Helper()
    yield h
    h.close()
