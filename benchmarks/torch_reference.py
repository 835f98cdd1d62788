"""The teacher step and the CD step of cdlite written in PyTorch, for benchmarks/bench_steps.py.

Benchmark-only: cdlite never imports this file and never needs torch. Install the CPU build with
`pip install torch==2.13.0` (a plain `pip install torch` may download a multi-GB CUDA build).

Identical to cdlite's MLP (cdlite/nn/networks.py): [x, Fourier(x), sinusoidal e(c_noise)] ->
Linear -> SiLU -> (Linear -> SiLU) x (depth - 1) -> Linear, with cdlite's weights copied in
(so the same initial values); EDM preconditioning and loss (cdlite/diffusion/precond.py,
loss.py); the consistency function, Heun teacher step and squared-L2 CD loss
(cdlite/distill/consistency.py, losses.py); Adam with global-norm clipping at 1 and the target
EMA. What a PyTorch user would write: nn.Linear, autograd, torch.optim.Adam with its defaults.
"""
from __future__ import annotations

import math

import numpy as np
import torch


class TorchMLP(torch.nn.Module):
    """cdlite's MLP (concat embedding, plain hidden layers) with cdlite's weights."""

    def __init__(self, net, params: dict):
        super().__init__()
        cfg = net.cfg
        if cfg.emb_mode != "concat" or cfg.residual or cfg.activation != "silu":
            raise ValueError("the PyTorch reference covers the recipes' MLP only (concat "
                             "embedding, plain SiLU layers)")
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
        self.register_buffer("emb_freqs", t(params["emb.freqs"]))              # (1, E/2)
        self.fourier = "xfourier.freqs" in params
        if self.fourier:
            self.register_buffer("x_freqs", t(params["xfourier.freqs"]))       # (d, k)
        names = ["in"] + [f"h{i}" for i in range(1, cfg.depth)] + ["out"]
        self.layers = torch.nn.ModuleList()
        for name in names:
            W = params[name + ".W"]                                            # (I, O)
            lin = torch.nn.Linear(W.shape[0], W.shape[1])
            with torch.no_grad():
                lin.weight.copy_(t(W.T))                                       # torch: (O, I)
                lin.bias.copy_(t(params[name + ".b"]))
            self.layers.append(lin)

    @staticmethod
    def cos_sin(x, freqs):
        z = (2 * math.pi) * (x @ freqs)
        return torch.cat([torch.cos(z), torch.sin(z)], dim=1)

    def forward(self, x, c_noise):
        feats = [x]
        if self.fourier:
            feats.append(self.cos_sin(x, self.x_freqs))
        feats.append(self.cos_sin(c_noise[:, None], self.emb_freqs))
        h = torch.cat(feats, dim=1)                                            # (B, I)
        for lin in self.layers[:-1]:
            h = torch.nn.functional.silu(lin(h))                               # (B, H)
        return self.layers[-1](h)                                              # (B, d)


def edm_denoiser(model, y, sigma, sd: float):
    """D = c_skip y + c_out F(c_in y, c_noise) (Karras et al. 2022); sigma a (B, 1) column."""
    s2 = sigma * sigma + sd * sd
    F = model(y / torch.sqrt(s2), (torch.log(sigma) / 4.0)[:, 0])
    return (sd * sd / s2) * y + (sigma * sd / torch.sqrt(s2)) * F


def consistency(model, x, sigma, sd: float, sigma_min: float):
    """f = c_skip' x + c_out' F(c_in x, c_noise) (Song et al. 2023)."""
    s2 = sigma * sigma + sd * sd
    ds = sigma - sigma_min
    F = model(x / torch.sqrt(s2), (torch.log(sigma) / 4.0)[:, 0])
    return (sd * sd / (ds * ds + sd * sd)) * x + (sd * ds / torch.sqrt(s2)) * F


def steps(net, params: dict, train, sd: float, B: int, grid, lr: float = 2e-3, mu: float = 0.95,
          sigma_min: float = 0.002, seed: int = 0):
    """(teacher_step, cd_step): zero-argument functions, one training step each."""
    torch.manual_seed(seed)
    train = torch.from_numpy(np.asarray(train, np.float32))
    grid = torch.from_numpy(np.asarray(grid, np.float32))                      # ascending
    n, d = train.shape
    teacher = TorchMLP(net, params)
    opt = torch.optim.Adam(teacher.parameters(), lr=lr)

    def teacher_step():
        x = train[torch.randint(0, n, (B,))]
        sigma = torch.exp(-1.2 + 1.2 * torch.randn(B, 1))
        y = x + sigma * torch.randn(B, d)
        lam = (sigma * sigma + sd * sd) / (sigma * sd) ** 2
        loss = (lam * (edm_denoiser(teacher, y, sigma, sd) - x) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(teacher.parameters(), 1.0)
        opt.step()
        return loss.item()

    student, target = TorchMLP(net, params), TorchMLP(net, params)
    opt_s = torch.optim.Adam(student.parameters(), lr=lr / 10)

    def D(y, sigma):
        return edm_denoiser(teacher, y, sigma, sd)

    def cd_step():
        x = train[torch.randint(0, n, (B,))]
        i = torch.randint(0, len(grid) - 1, (B,))
        t_n, t_next = grid[i][:, None], grid[i + 1][:, None]
        x_next = x + t_next * torch.randn(B, d)
        with torch.no_grad():                                  # teacher Heun step, then target
            dx = (x_next - D(x_next, t_next)) / t_next
            x_euler = x_next + (t_n - t_next) * dx
            x_hat = x_next + (t_n - t_next) * 0.5 * (dx + (x_euler - D(x_euler, t_n)) / t_n)
            f_target = consistency(target, x_hat, t_n, sd, sigma_min)
        loss = ((consistency(student, x_next, t_next, sd, sigma_min) - f_target) ** 2).mean()
        opt_s.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt_s.step()
        with torch.no_grad():                                  # theta_minus <- mu theta_minus + ..
            for p_t, p_s in zip(target.parameters(), student.parameters()):
                p_t.mul_(mu).add_(p_s, alpha=1.0 - mu)
        return loss.item()

    return teacher_step, cd_step
