"""A feature space for 8x8 digits: a small classifier trained by cdlite's own networks.

The Frechet distance in the feature space of a classifier is the "FID" idea of Heusel et al.
(2017), which uses Inception-v3 on ImageNet images; for 8x8 digits a 2-hidden-layer MLP trained
in seconds is enough. Features = the last hidden layer (ReLU, 64 numbers), as FID takes the
layer before the logits. Copy similarity (cosine) can use the same features.

Input scale: the data space of the generative models, digits p in 0..16 mapped to p / 8 - 1 in
[-1, 1] and flattened to 64 numbers (cdlite.data's "digits" dataset).

Trained once: cached per process (functools.lru_cache) and on disk in $CDLITE_CACHE (default
~/.cache/cdlite) as a plain .npz read with allow_pickle=False. Its held-out accuracy is kept
with it, so that a report can say how good the feature space is.

Shapes: B batch, H hidden width, C = 10 classes.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from cdlite.backend import array_module, make_rng, to_numpy
from cdlite.errors import CdliteError
from cdlite import settings
from cdlite.fileio import atomic_file
from cdlite.metrics._checks import as_points
from cdlite.nn.layers import Linear, ReLU, Sequential
from cdlite.nn.optim import Adam

CACHE_VERSION = "digits_classifier_v1"   # bump when the recipe below changes
RECIPE = {"hidden": 128, "features": 64, "steps": 300, "batch": 256, "lr": 5e-3,
          "n_test": 297, "seed": 0}


def build_classifier(hidden: int = RECIPE["hidden"], features: int = RECIPE["features"]):
    """(body, head): body 64 -> H -> F with ReLU (the features), head F -> 10 logits."""
    body = Sequential([Linear("h0", 64, hidden, init="he"), ReLU(),
                       Linear("h1", hidden, features, init="he"), ReLU()])
    return body, Linear("out", features, 10)


# --- softmax cross-entropy: forward and backward side by side ---------------------------------

def cross_entropy(logits, labels):
    """Mean of -log softmax(logits)[label] over the batch; returns (loss, cache)."""
    xp = array_module(logits)
    z = logits - logits.max(axis=1, keepdims=True)               # (B, C) stable softmax
    log_p = z - xp.log(xp.exp(z).sum(axis=1, keepdims=True))     # (B, C)
    B = logits.shape[0]
    return float(-log_p[xp.arange(B), labels].mean()), (log_p, labels)


def cross_entropy_backward(cache):
    """d loss / d logits = (softmax - one_hot) / B."""
    log_p, labels = cache
    xp = array_module(log_p)
    dlogits = xp.exp(log_p)                                      # (B, C) softmax
    dlogits[xp.arange(log_p.shape[0]), labels] -= 1.0
    return dlogits / log_p.shape[0]


def _digits_split(n_test: int, seed: int):
    """Digits in the model's data space (p / 8 - 1, flat) split by one seeded permutation."""
    from cdlite.data.images import load_digits
    images, labels = load_digits()                               # (1797, 8, 8), (1797,)
    x = (images.reshape(len(images), -1) / 8.0 - 1.0).astype(np.float32)  # (1797, 64)
    perm = make_rng(seed).permutation(len(x))
    test, train = perm[:n_test], perm[n_test:]
    return x[train], labels[train], x[test], labels[test]


def train_classifier(recipe: dict = RECIPE):
    """Train the classifier with Adam on minibatches; returns (params, held-out accuracy)."""
    x_tr, y_tr, x_te, y_te = _digits_split(recipe["n_test"], recipe["seed"])
    rng = make_rng(recipe["seed"])
    body, head = build_classifier(recipe["hidden"], recipe["features"])
    params = {**body.init(rng), **head.init(rng)}
    opt = Adam(recipe["lr"])
    for _ in range(recipe["steps"]):
        b = rng.integers(0, len(x_tr), size=recipe["batch"])
        h, body_cache = body.forward(params, x_tr[b])           # (B, F)
        logits, head_cache = head.forward(params, h)            # (B, C)
        _, ce_cache = cross_entropy(logits, y_tr[b])
        dh, grads = head.backward(params, cross_entropy_backward(ce_cache), head_cache)
        _, body_grads = body.backward(params, dh, body_cache, need_dx=False)
        opt.step(params, {**grads, **body_grads})
    logits = head.forward(params, body.forward(params, x_te)[0])[0]
    return params, float((logits.argmax(axis=1) == y_te).mean())




def _load_cached(path: Path):
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            if header.get("version") != CACHE_VERSION or header.get("recipe") != RECIPE:
                return None
            return {k: z[k] for k in z.files if k != "header"}, float(header["accuracy"])
    except (OSError, ValueError, KeyError):                      # missing or damaged: retrain
        return None


def _save_cached(path: Path, params: dict, accuracy: float) -> None:
    """Atomic write (cdlite.fileio): a crash leaves the old file or none, never half a file."""
    try:
        header = json.dumps({"version": CACHE_VERSION, "recipe": RECIPE, "accuracy": accuracy})
        with atomic_file(path) as fh:
            np.savez(fh, header=np.array(header), **params)
    except OSError:
        pass                                                     # read-only home: no disk cache


class DigitsClassifier:
    """The trained classifier: `features(x)` (B, 64) -> (B, F), `predict(x)`, `accuracy`."""

    def __init__(self, params: dict, accuracy: float):
        self.params, self.accuracy = params, accuracy
        self.body, self.head = build_classifier(params["h0.W"].shape[1], params["h1.W"].shape[1])

    def _input(self, x, check_scale: bool = True):
        x = as_points(x, "digits")
        if x.shape[1] != 64:
            raise CdliteError(f"the digits classifier takes 8x8 images flattened to 64 numbers; "
                              f"got dimension {x.shape[1]}")
        if check_scale and float(abs(x).max()) > 4.0:
            raise CdliteError(f"digits for the classifier must be in the models' scale p / 8 - 1 "
                              f"(about [-1, 1]); got values up to {float(abs(x).max()):.3g}. "
                              f"Raw pixels 0..16? Pass x / 8 - 1")
        return x

    def features(self, x, check_scale: bool = True):
        """Last hidden layer (B, F) of the classifier, on the backend of x. check_scale refuses
        values far outside [-1, 1] (raw pixels 0..16 passed by mistake); a model's samples are
        in the right scale even when a badly trained model throws some far out, so the run
        pipeline turns it off."""
        x = self._input(x, check_scale)
        xp = array_module(x)
        params = {k: xp.asarray(v, dtype=x.dtype) for k, v in self.params.items()}
        return self.body.forward(params, x)[0]

    def predict(self, x):
        """Predicted digit (B,) as a NumPy int array."""
        h = self.features(x)
        xp = array_module(h)
        W, b = (xp.asarray(self.params[k], dtype=h.dtype) for k in ("out.W", "out.b"))
        return to_numpy((h @ W + b).argmax(axis=1))


@functools.lru_cache(maxsize=1)
def digits_classifier(use_disk_cache: bool = True) -> DigitsClassifier:
    """The digits classifier, trained once per process (a few seconds) or read from the cache."""
    path = settings.cache_dir() / f"{CACHE_VERSION}.npz"
    cached = _load_cached(path) if use_disk_cache else None
    if cached is None:
        cached = train_classifier()
        if use_disk_cache:
            _save_cached(path, *cached)
    return DigitsClassifier(*cached)


def digits_features(use_disk_cache: bool = True):
    """The feature map (B, 64) in [-1, 1] -> (B, 64) for frechet_features and copy_similarity."""
    return digits_classifier(use_disk_cache).features
