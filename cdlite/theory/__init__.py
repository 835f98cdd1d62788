"""cdlite.theory: the random-feature model of Bonnaire, Urfin, Biroli & Mezard (arXiv 2505.17638)
and cdlite's consistency-distillation model built on it (reading order: model, spectrum,
dynamics, distill, analysis, recipe).

    model     s_A(x) = (A / sqrt(p)) tanh(W x / sqrt(d)); losses as quadratic forms (Regression)
    spectrum  Gaussian-equivalence constants, predicted bulk edges, eigendecomposition
    dynamics  closed-form gradient flow in the eigenbasis of U, simulated GD, tau_gen, tau_mem
    distill   consistency distillation in the model: teacher chain, student, per-mode transfer
    recipe    `cdlite run rf-theory`: RFTheoryConfig, run_rf_theory
"""
from .distill import (CDChain, bulk_medians, cd_target, distill_chain, student_apply,
                      teacher_step, time_grid)
from .dynamics import GradientFlow, gd_step_size, simulate_gd, tau_gen, tau_mem
from .model import (Regression, dsm_loss_and_grad, dsm_target, features, gaussian_data,
                    gaussian_score, make_features, mc_regressions, ou_coeffs, rf_score,
                    score_target)
from .spectrum import (GEConstants, eigh_desc, gen_bulk_scale, ge_constants, ge_constants_mc,
                       mem_bulk_edges, power_iteration, split_bulks)

__all__ = [
    "CDChain", "GEConstants", "GradientFlow", "Regression", "bulk_medians", "cd_target",
    "distill_chain", "dsm_loss_and_grad", "dsm_target", "eigh_desc", "features", "gaussian_data",
    "gaussian_score", "gd_step_size", "ge_constants", "ge_constants_mc", "gen_bulk_scale",
    "make_features", "mc_regressions", "mem_bulk_edges", "ou_coeffs", "power_iteration",
    "rf_score", "score_target", "simulate_gd", "split_bulks", "student_apply", "tau_gen",
    "tau_mem", "teacher_step", "time_grid",
]
# the recipe (RFTheoryConfig, run_rf_theory) lives in cdlite.theory.recipe: it imports
# matplotlib, which the math above does not need.
