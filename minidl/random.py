"""Random numbers: one global seeded generator, as ``torch.manual_seed`` gives.

minidl draws everything (init, dropout masks, ``randn``, shuffling) from NumPy's PCG64, so its
streams differ from torch's: parity tests copy weights and masks rather than share seeds.
"""
from __future__ import annotations

import numpy as np


class Generator:
    """A seedable stream, like ``torch.Generator`` (used by DataLoader shuffling, ``randperm``...)."""

    def __init__(self, seed: int | None = None) -> None:
        self._seed = 0 if seed is None else int(seed)
        self.rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed: int) -> "Generator":
        self._seed = int(seed)
        self.rng = np.random.default_rng(self._seed)
        return self

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        """The bit generator's state (a JSON-able dict), for checkpoints."""
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


default_generator = Generator(0)


def manual_seed(seed: int) -> Generator:
    """Seed the global generator (``minidl.manual_seed(0)``)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    s = int(np.random.SeedSequence().entropy % (2**63))
    default_generator.manual_seed(s)
    return s


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> dict:
    return default_generator.get_state()


def set_rng_state(state: dict) -> None:
    default_generator.set_state(state)


def generator(gen: Generator | None = None) -> np.random.Generator:
    """The NumPy generator behind ``gen`` (or the global one)."""
    return (gen or default_generator).rng
