"""The one random-stream scheme of every recipe: a run has one seed, and each use of randomness
draws from its own generator, seeded with the seed and the use's numbers,

    stream_rng(seed, 2)            a numpy Generator seeded with [seed, 2]
    stream_rng(seed, 1000, 4, 7)   seeded with [seed, 1000, 4, 7]

so that no two uses share random numbers and adding one never changes another. Each recipe
names its uses once, as an IntEnum: the pipeline's in cdlite.experiments.streams, rf-theory's
in cdlite.theory.recipe.
"""
from __future__ import annotations

import numpy as np


def stream_rng(seed: int, *numbers: int) -> np.random.Generator:
    """The generator of the stream with these numbers (a use, then e.g. a step) for a seed."""
    return np.random.default_rng([int(seed), *map(int, numbers)])
