"""Consistency distillation and consistency training (Song et al. 2023)."""
from .consistency import ConsistencyFunction, consistency_coeffs
from .losses import cd_loss, ct_grid_size, ct_loss, distance, teacher_ode_step
from .sampling import sample_consistency
from .train import DistillConfig, DistillResult, consistency_train, distill
