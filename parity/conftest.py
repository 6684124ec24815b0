"""Shared settings of the parity suite (minidl vs torch, classical vs scikit-learn and others), and the
public-API coverage recorder (``parity/coverage.py``): calls made while a parity test runs are
recorded, and ``test_public_callables_covered`` runs last to list the callables no test called."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

try:
    import torch

    torch.set_num_threads(1)  # deterministic reductions, and no oversubscription beside pytest-xdist
except ImportError:  # pragma: no cover - the dev extra installs torch
    pass

from parity import coverage  # noqa: E402

try:  # Hypothesis: CI is reproducible (derandomized: the same examples every run); "explore" draws new ones
    import os

    from hypothesis import settings as _hyp_settings

    _hyp_settings.register_profile("ci", derandomize=True, deadline=None)
    _hyp_settings.register_profile("explore", derandomize=False, deadline=None, max_examples=1000)
    _hyp_settings.load_profile(os.environ.get("MINIDL_HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # pragma: no cover - the dev extra installs hypothesis
    pass

coverage.install_call_recorder()

HERE = Path(__file__).parent
LAST = "test_public_callables_covered"


@pytest.fixture(autouse=True)
def _record_public_calls() -> Iterator[None]:
    coverage._RECORDING[0] = True
    try:
        yield
    finally:
        coverage._RECORDING[0] = False


def pytest_collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    """Run the public-API coverage check after every other test, and note which parity files were collected."""
    last = [it for it in items if it.name == LAST]
    for it in last:
        items.remove(it)
    items.extend(last)
    coverage.COLLECTED_FILES.update(Path(str(it.fspath)).resolve() for it in items
                                    if Path(str(it.fspath)).resolve().parent == HERE.resolve())
