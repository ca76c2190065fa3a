import pytest

from sessionfence.model import check, variants
from sessionfence.model.world import World


@pytest.fixture(scope="session")
def verdicts():
    """verify() results per (variant, N, world), computed once per session."""
    cache = {}

    def get(name, n, atomic=False, **world):
        w = World(atomic_writes=atomic, **world)
        key = (name, n, w)
        if key not in cache:
            cache[key] = {r.property: r for r in check.verify(variants.get(name), n, world=w)}
        return cache[key]

    return get
