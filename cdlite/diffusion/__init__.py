"""The diffusion teacher: EDM preconditioning, loss, noise grids, samplers, closed forms,
training."""
from .closed_form import EmpiricalOptimalDenoiser, gaussian_mixture_denoiser
from .grids import consistency_grid, karras_sigmas, sample_training_sigmas
from .loss import denoising_loss, edm_loss
from .precond import EDMDenoiser, edm_coeffs, sigma_column
from .samplers import SAMPLERS, DiffusionConfig, generate, sample_euler, sample_heun
from .train import TeacherConfig, TrainResult, train_teacher
