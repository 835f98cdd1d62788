"""Hand-written layers and networks (forward and backward side by side), optimizers and EMA."""
from .embeddings import FourierEmbedding, SinusoidalEmbedding
from .gradcheck import check_grads, rel_error
from .layers import GELU, LayerNorm, Linear, ReLU, Residual, Sequential, SiLU, Tanh
from .networks import (MLP, MLPConfig, RandomFeatureNet, RFConfig, build_network, make_network,
                       network_spec)
from .optim import (Adam, clip_grad_norm, copy_params, ema_rate_from_half_life, ema_update,
                    lr_schedule)
