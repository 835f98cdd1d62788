"""The digits feature space: gradient check of the classifier, accuracy, disk cache."""
import numpy as np
import pytest

from cdlite.errors import CdliteError
from cdlite.metrics import copy_similarity, frechet_distance
from cdlite.metrics import features as F
from cdlite.nn.gradcheck import check_grads


def test_classifier_gradients_float64():
    """L = cross_entropy(head(body(x))): analytic gradients against central differences."""
    rng = np.random.default_rng(0)
    body, head = F.build_classifier(hidden=7, features=5)
    params = {**body.init(rng, np.float64), **head.init(rng, np.float64)}
    x = rng.standard_normal((6, 64))
    labels = rng.integers(0, 10, size=6)

    def loss():
        return F.cross_entropy(head.forward(params, body.forward(params, x)[0])[0], labels)[0]

    h, body_cache = body.forward(params, x)
    logits, head_cache = head.forward(params, h)
    dh, grads = head.backward(params, F.cross_entropy_backward(F.cross_entropy(logits, labels)[1]),
                              head_cache)
    dx, body_grads = body.backward(params, dh, body_cache)
    arrays = {"x": x, **{k: params[k] for k in body.trainable + head.trainable}}
    check_grads(loss, {"x": dx, **grads, **body_grads}, arrays, rng, tol=1e-6)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("CDLITE_CACHE", str(cache))
    F.digits_classifier.cache_clear()
    clf = F.digits_classifier()
    yield clf, cache
    F.digits_classifier.cache_clear()
    mp.undo()


def test_accuracy_and_features(classifier):
    clf, _ = classifier
    assert clf.accuracy > 0.95
    x_tr, _, x_te, y_te = F._digits_split(F.RECIPE["n_test"], F.RECIPE["seed"])
    assert np.mean(clf.predict(x_te) == y_te) == pytest.approx(clf.accuracy)
    feats = clf.features(x_te[:10].reshape(10, 8, 8))            # images are flattened
    assert feats.shape == (10, F.RECIPE["features"]) and np.all(feats >= 0)
    # in feature space, test digits are closer to train digits than noise is
    noise = np.random.default_rng(1).uniform(-1, 1, (300, 64)).astype(np.float32)
    assert frechet_distance(clf.features(x_te), clf.features(x_tr)) < \
        0.2 * frechet_distance(clf.features(noise), clf.features(x_tr))
    cs = copy_similarity(x_tr[:20], x_tr, features=clf.features)
    assert cs["frac_above"] == 1.0
    with pytest.raises(CdliteError, match="p / 8 - 1"):
        clf.features(x_te * 8 + 8)                                # raw pixels 0..16
    # a badly trained model's samples may fall far out: the pipeline turns the guard off
    far = 5.0 * noise
    assert clf.features(far, check_scale=False).shape == (300, F.RECIPE["features"])
    with pytest.raises(CdliteError, match="64"):
        clf.features(np.zeros((3, 10)))


def test_disk_cache_round_trip(classifier):
    clf, cache = classifier
    path = cache / f"{F.CACHE_VERSION}.npz"
    assert path.exists()
    params, acc = F._load_cached(path)
    assert acc == clf.accuracy
    for k, v in clf.params.items():
        np.testing.assert_array_equal(params[k], v)
    path.write_bytes(b"damaged")                                 # a damaged file means retrain
    assert F._load_cached(path) is None
