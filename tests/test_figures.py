"""Figures of a run folder: every returned name is a real PNG, and partial runs still draw."""
import numpy as np
import pytest

from cdlite.report.figures import make_figures

PNG_MAGIC = b"\x89PNG"


def _curve(steps, rng):
    return [{"step": int(s), "f_mem": float(f), "coverage": float(f),
             "gen_gap": float(-0.01 + 0.02 * f),
             "quality": {"energy_distance": float(0.3 * (1 - f)), "loglik": float(-3 + f)}}
            for s, f in zip(steps, np.sort(rng.uniform(0, 1, len(steps))))]


def _metrics(rng, d):
    entry = lambda nfe, f: {"nfe": nfe, "f_mem": f, "f_mem_ci": [f - 0.02, f + 0.02],
                            "coverage": 0.8, "quality": {"loglik": -2.1, "energy_distance": 0.01}}
    return {"recipe": "test", "seed": 0, "n_train": 16, "dim": d,
            "teacher": entry(35, 0.9), "teacher_fewstep": entry(1, 0.1),
            "student": entry(1, 0.3), "student_2step": entry(2, 0.4), "ct": entry(1, 0.2),
            "reference": {"fresh_true": {"f_mem": 0.15, "quality": {"loglik": -2.0}},
                          "empirical_optimum": {"f_mem": 1.0}},
            "teacher_curve": _curve([0, 100, 200, 300], rng),
            "student_curve": _curve([0, 50, 100], rng)}


def _check_pngs(fig_dir, written):
    assert written, "no figure written"
    for name, file_name in written.items():
        data = (fig_dir / file_name).read_bytes()
        assert len(data) > 1000 and data[:4] == PNG_MAGIC, name
    assert not [p for p in fig_dir.iterdir() if p.name.startswith(".")], "temp file left over"


def _samples(rng, train, m, noise):
    """Half exact copies of training points (memorized), half training points plus noise."""
    copies = train[rng.integers(0, len(train), m // 2)]
    near = train[rng.integers(0, len(train), m - m // 2)]
    return rng.permutation(np.concatenate([copies, near + noise * rng.standard_normal(near.shape)]))


def test_two_dimensional(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.standard_normal((16, 2))
    samples = {"train": train, "test": rng.standard_normal((64, 2)),
               "fresh_true": rng.standard_normal((200, 2))}
    for key in ("teacher", "teacher_fewstep", "student", "student_2step", "ct"):
        samples[key] = _samples(rng, train, 200, 0.5)
    written = make_figures(tmp_path / "figures", _metrics(rng, 2), samples, None)
    assert set(written) == {"samples", "curves", "frontier", "ratios"}
    _check_pngs(tmp_path / "figures", written)


def test_images(tmp_path):
    rng = np.random.default_rng(1)
    train = np.clip(rng.standard_normal((16, 64)), -1, 1)          # 16 "8x8 images"
    samples = {"train": train, "fresh_true": np.clip(rng.standard_normal((40, 64)), -1, 1)}
    for key in ("teacher", "student", "student_2step"):
        samples[key] = np.clip(_samples(rng, train, 40, 0.6), -1, 1)
    written = make_figures(tmp_path, _metrics(rng, 64), samples, image_shape=(8, 8))
    assert set(written) == {"samples", "curves", "frontier", "ratios"}
    _check_pngs(tmp_path, written)


def test_partial_run(tmp_path):
    """An interrupted run: only train and teacher samples, a teacher curve with one entry."""
    rng = np.random.default_rng(2)
    train = rng.standard_normal((16, 2))
    metrics = {"teacher_curve": [{"step": 0, "f_mem": 0.1}]}
    written = make_figures(tmp_path, metrics, {"train": train,
                                               "teacher": _samples(rng, train, 50, 0.3)})
    assert set(written) == {"samples", "curves", "ratios"}
    _check_pngs(tmp_path, written)


def test_wrong_image_shape_is_a_clear_error(tmp_path):
    rng = np.random.default_rng(3)
    train = rng.standard_normal((16, 64))
    with pytest.raises(ValueError, match="image_shape"):
        make_figures(tmp_path, {}, {"train": train, "teacher": train[:4]}, image_shape=(7, 7))
