import pytest

from sessionfence.model import check, variants


@pytest.fixture(scope="session")
def verdicts():
    """verify() results per (variant, N, atomic), computed once per session."""
    cache = {}

    def get(name, n, atomic=False):
        key = (name, n, atomic)
        if key not in cache:
            cache[key] = {r.property: r for r in check.verify(variants.get(name), n, atomic_writes=atomic)}
        return cache[key]

    return get
