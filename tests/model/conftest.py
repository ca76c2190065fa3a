import pytest

from sessionfence.model import check, variants
from sessionfence.model.world import World


@pytest.fixture(scope="session")
def verdicts():
    """verify() results per (variant, N, world), computed once per session."""
    cache = {}

    def get(name, n, atomic=False, props=None, **world):
        """`props`: only these `always` properties (and the witnesses), when a
        test needs no other cell; a run of every property serves them too."""
        w = World(atomic_writes=atomic, **world)
        for key in ((name, n, w, None), (name, n, w, props)):
            if key in cache:
                return cache[key]
        cache[key] = {r.property: r for r in check.verify(variants.get(name), n, world=w,
                                                          properties=props)}
        return cache[key]

    return get
