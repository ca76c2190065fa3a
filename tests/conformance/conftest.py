"""Fixtures for the conformance tests: model traces generated once per session."""

from __future__ import annotations

import pytest

from conformance_support import cli, write_cover


@pytest.fixture(scope="session")
def cover_dir(tmp_path_factory):
    """cover_dir(variant, n): a directory with that variant's cover traces."""
    made: dict = {}

    def get(variant: str, n: int) -> str:
        key = (variant, n)
        if key not in made:
            d = str(tmp_path_factory.mktemp(f"cover-{variant}-{n}"))
            write_cover(d, variant, n)
            made[key] = d
        return made[key]

    return get


@pytest.fixture(scope="session")
def ci_traces(tmp_path_factory):
    """ci_traces(variant, n): `traces --cover --random 16 --weights external_write=2`
    output dir (the bounded CI set: every coverage target plus a few random
    walks). Walks give the external writer one step in ten; twice that, in
    16 walks, lets every kind of external edit show up in the set's replay
    (replace and delete are faithful only where no open controller writes later)."""
    made: dict = {}

    def get(variant: str, n: int, fingerprint: str = "digest") -> str:
        """The model's world has the fingerprint mode the implementation will
        replay in (stat: this machine's multigrain timestamps)."""
        key = (variant, n, fingerprint)
        if key not in made:
            d = str(tmp_path_factory.mktemp(f"ci-{variant}-{n}-{fingerprint}"))
            world = ["--fingerprint", fingerprint, "--timestamps", "multigrain"]
            code, _, err = cli(["traces", "--variant", variant, "--controllers", str(n),
                                "--cover", "--random", "16", "--weights", "external_write=2",
                                "--depth", "30", "--seed", "1", "--out", d, "-q", *world])
            assert code == 0, err
            made[key] = d
        return made[key]

    return get
