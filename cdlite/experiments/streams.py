"""Every random stream of a pipeline run, named in one place.

A run has one seed. Each use of randomness draws from its own generator, derived from the seed
and the stream's number, so that no two uses can ever share numbers and adding an evaluation
never changes what training sees:

    rng(seed, Train.TEACHER)                 numpy Generator seeded with [seed, 2]
    rng(seed, Eval.TEACHER_CURVE_SAMPLES, k)  seeded with [seed, 1000, 2, k] (k: the step)

Training streams are consumed in order by one training loop each; evaluation streams live in
their own range (1000) and take sub-numbers (a step, a number of sampler steps), so a curve
point at step k is the same whatever other points are evaluated. The numbers are part of what
makes a run reproducible: changing one changes the run's results.
"""
from __future__ import annotations

from enum import IntEnum, unique

import numpy as np

from ..streams import stream_rng

EVAL_RANGE = 1000


@unique  # two names with one number would share random numbers
class Train(IntEnum):
    """Streams that training consumes (initial weights, mini-batches, noise)."""
    TEACHER_INIT = 1      # the network's initial weights (and its fixed random features)
    TEACHER = 2           # teacher training: batches, sigma ~ log-normal, noise
    STUDENT_INIT = 3      # distill.init = "scratch": the student's own initial weights
    DISTILL = 4           # consistency distillation: batches, grid indices, noise
    CT_INIT = 5           # the CT baseline's initial weights
    CT = 6                # consistency training
    FRESH = 7             # fresh samples of the true distribution (the chance level)


@unique
class Eval(IntEnum):
    """Streams of the evaluation: sampling the models and the metrics' own randomness."""
    FRESH_METRICS = 1
    TEACHER_CURVE_SAMPLES = 2     # + step
    TEACHER_CURVE_METRICS = 3     # + step
    TEACHER_SAMPLES = 4
    TEACHER_METRICS = 5
    FEWSTEP_SAMPLES = 6           # + number of Euler steps
    FEWSTEP_1_METRICS = 8
    FEWSTEP_2_METRICS = 9
    STUDENT_CURVE_SAMPLES = 10    # + step
    STUDENT_CURVE_METRICS = 11    # + step
    STUDENT_SAMPLES = 12
    STUDENT_2STEP_SAMPLES = 13
    STUDENT_2STEP_CURVE_SAMPLES = 14  # + step
    STUDENT_2STEP_CURVE_METRICS = 15  # + step
    STUDENT_METRICS = 22
    STUDENT_2STEP_METRICS = 23
    CT_SAMPLES = 30
    CT_METRICS = 31
    OPTIMUM_SAMPLES = 40
    OPTIMUM_METRICS = 41
    TRANSFER_LATENTS = 50         # the fixed latents x_T that teacher and student share
    TRANSFER_TEACHER_METRICS = 51  # the teacher's verdicts on its samples from them
    TRANSFER_2STEP = 52           # + step (final: none): the 2-step student's second noise
    TRANSFER_METRICS = 53         # + step (final: none): the transfer report's bootstrap


def rng(seed: int, stream: Train | Eval, *sub: int) -> np.random.Generator:
    """The generator of `stream` (and its sub-stream, e.g. a step) for this seed, in the one
    scheme of cdlite.streams."""
    if isinstance(stream, Eval):
        return stream_rng(seed, EVAL_RANGE, stream, *sub)
    return stream_rng(seed, stream, *sub)
