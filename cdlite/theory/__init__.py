"""cdlite.theory: the random-feature model of Bonnaire, Urfin, Biroli & Mezard (arXiv 2505.17638)
and cdlite's consistency-distillation model built on it (reading order: model, spectrum,
dynamics, distill, analysis, stats, summary, report, figures, recipe).

    model     s_A(x) = (A / sqrt(p)) tanh(W x / sqrt(d)); losses as quadratic forms (Regression)
    spectrum  Gaussian-equivalence constants, predicted bulk edges, eigendecomposition
    dynamics  closed-form gradient flow in the eigenbasis of U, simulated GD, tau_gen, tau_mem;
              the time unit and how it maps to Bonnaire et al.'s
    distill   consistency distillation in the model: teacher chain, student, per-mode transfer,
              the window in which stopping early filters memorisation
    analysis  one training set: spectrum, losses, timescales, GD check; CD over distillation time
    stats     slopes against n over many training sets, bootstrap intervals
    summary   the metrics dict of the recipe
    report    report.md and terminal_table, from the metrics
    recipe    `cdlite run rf-theory`: RFTheoryConfig, quick, run_rf_theory
"""
from .distill import (CDChain, bulk_medians, cd_target, distill_chain, filter_window,
                      student_apply, teacher_step, time_grid)
from .dynamics import (GradientFlow, RotatedLoss, first_crossing, gd_step_size,
                       relaxation_times, simulate_gd, tau_gen, tau_mem)
from .model import (Regression, dsm_loss_and_grad, dsm_target, features, gaussian_data,
                    gaussian_score, make_features, mc_regressions, ou_coeffs, rf_score,
                    score_target)
from .spectrum import (GEConstants, eigh_desc, gen_bulk_scale, ge_constants, ge_constants_mc,
                       mem_bulk_edges, power_iteration, spike_bulk_edges, split_bulks)

__all__ = [
    "CDChain", "GEConstants", "GradientFlow", "Regression", "RotatedLoss", "bulk_medians",
    "cd_target", "distill_chain", "dsm_loss_and_grad", "dsm_target", "eigh_desc", "features",
    "filter_window", "first_crossing", "gaussian_data", "gaussian_score", "gd_step_size",
    "ge_constants", "ge_constants_mc", "gen_bulk_scale", "make_features", "mc_regressions",
    "mem_bulk_edges", "ou_coeffs", "power_iteration", "relaxation_times", "rf_score",
    "score_target", "simulate_gd", "spike_bulk_edges", "split_bulks", "student_apply",
    "tau_gen", "tau_mem", "teacher_step", "time_grid",
]
# the recipe (RFTheoryConfig, quick, run_rf_theory), its report and its figures live in
# cdlite.theory.recipe / .report / .figures, imported by name: the recipe and the figures
# import matplotlib, which the math above does not need.
