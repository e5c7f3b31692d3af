"""The training levers that live outside the loop: one-shot augmentation of features and the
NCA metric term and the view-invariance term on the latent space."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from samplevae.augment import AugmentConfig, augment_features
from samplevae.contrastive import nca_loss, timbre_loss, timbre_statistics, view_loss
from samplevae.features import features
from samplevae.params import AudioParams


def _hits(n: int = 6) -> np.ndarray:
    """Decaying noise bursts with different colours: feature matrices a drum kit would give."""
    rng = np.random.default_rng(0)
    sr, out = 16000, []
    for i in range(n):
        t = np.arange(int(0.5 * sr)) / sr
        y = rng.standard_normal(t.size) * np.exp(-t * (8 + 4 * i))
        if i % 2:
            y = np.convolve(y, np.ones(8) / 8, mode="same")
        out.append(features(y.astype(np.float32), AudioParams()))
    return np.stack(out)


def test_augmented_features_stay_valid_features_and_are_reproducible():
    x = _hits()
    x = np.concatenate([x, np.zeros_like(x[:1])])  # and one silent clip
    a = augment_features(tf.constant(x), tf.constant([1, 2])).numpy()
    assert a.shape == x.shape and np.isfinite(a).all()
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_allclose(a[:-1].max(axis=(1, 2)), 1.0, atol=1e-6)  # peak stays the reference
    assert not a[-1].any()  # silence stays silent
    again = augment_features(tf.constant(x), tf.constant([1, 2])).numpy()
    np.testing.assert_array_equal(a, again)  # same seed, same batch
    other = augment_features(tf.constant(x), tf.constant([1, 3])).numpy()
    assert np.abs(other - a).mean() > 1e-3  # another step, another draw
    assert np.abs(a - x).mean() > 1e-3  # it does change the sounds


def test_no_augmentation_with_probability_zero_except_the_tail_mix():
    x = _hits()
    cfg = AugmentConfig(p=0.0)
    a = augment_features(tf.constant(x), tf.constant([4, 5]), config=cfg).numpy()
    np.testing.assert_allclose(a, x, atol=1e-4)


def test_onset_offset_moves_the_hit_later_never_earlier():
    x = _hits(4)
    cfg = AugmentConfig(
        p=1.0,
        tilt_db=0.0,
        bell_db=0.0,
        noise_db=(-200.0, -199.0),
        room_db=(-200.0, -199.0),
        fade_db_per_frame=(0.0, 0.0),
        mix_db=(-200.0, -199.0),
        max_shift=4,
    )
    onset = (x > 0.5).argmax(axis=2).min(axis=1)
    shifts = []
    for s in range(5):
        a = augment_features(tf.constant(x), tf.constant([s, 0]), config=cfg).numpy()
        shifts.extend((a > 0.5).argmax(axis=2).min(axis=1) - onset)
    assert min(shifts) >= 0 and max(shifts) <= 4 and max(shifts) > 0


def test_nca_loss_is_small_for_separated_classes_and_large_for_mixed_ones():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 4)
    centres = rng.standard_normal((4, 16)) * 10
    z_sep = centres[y] + 0.1 * rng.standard_normal((16, 16))
    z_mix = rng.standard_normal((16, 16))
    sep = nca_loss(tf.constant(z_sep, tf.float32), tf.constant(y)).numpy()
    mix = nca_loss(tf.constant(z_mix, tf.float32), tf.constant(y)).numpy()
    assert sep.max() < 1e-3
    assert mix.mean() > 0.5
    # a clip with no classmate in the batch gets no term
    lone = nca_loss(tf.constant(z_mix[:5], tf.float32), tf.constant([0, 0, 1, 1, 2])).numpy()
    assert lone[4] == 0.0 and lone[:4].min() > 0.0


def test_nca_gradient_pulls_classmates_together():
    rng = np.random.default_rng(1)
    z = tf.Variable(rng.standard_normal((12, 8)).astype(np.float32))
    y = tf.constant(np.repeat(np.arange(3), 4))

    def spread():
        zz = z.numpy()
        return np.mean(
            [
                np.linalg.norm(zz[y.numpy() == c] - zz[y.numpy() == c].mean(0), axis=1).mean()
                for c in range(3)
            ]
        )

    before = spread()
    for _ in range(50):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(nca_loss(z, y, temperature=1.0))
        z.assign_sub(0.5 * tape.gradient(loss, z))
    assert spread() < before * 0.8


def test_view_loss_is_small_when_each_view_sits_by_its_clip():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((16, 8)).astype(np.float32) * 5
    near = z + 0.01 * rng.standard_normal(z.shape).astype(np.float32)
    shuffled = near[rng.permutation(16)]
    good = view_loss(tf.constant(z), tf.constant(near)).numpy()
    bad = view_loss(tf.constant(z), tf.constant(shuffled)).numpy()
    assert good.shape == (16,) and good.max() < 1e-2
    # partners swapped at random: most clips' nearest embedding is another clip's view
    assert bad.mean() > 1.0
    # the term is symmetric in its two views
    np.testing.assert_allclose(view_loss(near, z).numpy(), good, rtol=1e-5, atol=1e-6)


def test_view_loss_gradient_pulls_views_together_and_keeps_clips_apart():
    rng = np.random.default_rng(3)
    z = tf.Variable(rng.standard_normal((10, 8)).astype(np.float32))
    v = tf.Variable(rng.standard_normal((10, 8)).astype(np.float32))

    def pair_gap():
        return float(np.linalg.norm(z.numpy() - v.numpy(), axis=1).mean())

    def others_gap():
        d = np.linalg.norm(z.numpy()[:, None] - z.numpy()[None], axis=2)
        return float(d[~np.eye(10, dtype=bool)].mean())

    before, spread = pair_gap(), others_gap()
    for _ in range(100):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(view_loss(z, v, temperature=1.0))
        gz, gv = tape.gradient(loss, [z, v])
        z.assign_sub(0.5 * gz)
        v.assign_sub(0.5 * gv)
    assert pair_gap() < before * 0.5
    assert others_gap() > 0.5 * spread  # not collapsed to one point


def test_timbre_statistics_are_the_mfcc_statistics_of_the_features_up_to_their_db_scale():
    from samplevae.features import _dct_matrix, mfcc_stats_of_features
    from samplevae.params import AudioParams

    params = AudioParams()
    x = np.random.default_rng(4).uniform(0, 1, (3, params.n_mels, 40)).astype(np.float32)
    ref = mfcc_stats_of_features(x, params)
    got = params.top_db * timbre_statistics(x, _dct_matrix(20, params.n_mels)).numpy()
    # stds and deltas equal; the MFCC means less one constant per coefficient
    np.testing.assert_allclose(got[:, 20:], ref[:, 20:], atol=1e-3)
    offset = ref[:, :20] - got[:, :20]
    np.testing.assert_allclose(offset, np.broadcast_to(offset[0], offset.shape), atol=1e-3)


def test_timbre_loss_is_zero_when_the_embedding_keeps_the_statistics_neighbours():
    rng = np.random.default_rng(5)
    t = rng.standard_normal((24, 6)).astype(np.float32) * 3 + 7
    standard = (t - t.mean(0)) / t.std(0)
    same = timbre_loss(tf.constant(standard), tf.constant(t)).numpy()
    assert same.shape == (24,) and np.abs(same).max() < 1e-4
    # scale and offset of the statistics do not matter (standardised over the batch)
    np.testing.assert_allclose(
        timbre_loss(tf.constant(standard), tf.constant(5 * t - 2)).numpy(), same, atol=1e-4
    )
    shuffled = timbre_loss(tf.constant(standard[rng.permutation(24)]), tf.constant(t)).numpy()
    assert shuffled.mean() > 1.0


def test_timbre_loss_gradient_moves_the_embedding_towards_the_statistics_neighbours():
    rng = np.random.default_rng(6)
    t = tf.constant(rng.standard_normal((12, 4)).astype(np.float32))
    z = tf.Variable(rng.standard_normal((12, 4)).astype(np.float32))

    def nearest_agree():
        def nn(a):
            d = np.linalg.norm(a[:, None] - a[None], axis=2) + np.eye(len(a)) * 1e9
            return d.argmin(1)

        return float(np.mean(nn(z.numpy()) == nn(t.numpy())))

    before = nearest_agree()
    for _ in range(200):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(timbre_loss(z, t, temperature=1.0))
        z.assign_sub(1.0 * tape.gradient(loss, z))
    assert nearest_agree() >= 0.75 > before


@pytest.mark.parametrize(
    "field,value",
    [
        ("classifier_weight", -1),
        ("metric_weight", -0.1),
        ("metric_temperature", 0),
        ("invariance_weight", -1),
        ("invariance_temperature", 0),
        ("timbre_weight", -1),
        ("timbre_temperature", 0),
    ],
)
def test_loss_weights_are_validated(field, value):
    from samplevae.errors import ParameterError
    from samplevae.params import ModelParams

    with pytest.raises(ParameterError, match=field):
        ModelParams(**{field: value})


@pytest.mark.parametrize(
    "field,value",
    [
        ("schedule", "linear"),
        ("warmup_steps", -1),
        ("final_lr_ratio", 0),
        ("augment", "yes"),
        ("augment_target", "noisy"),
    ],
)
def test_schedule_and_augment_are_validated(field, value):
    from samplevae.errors import ParameterError
    from samplevae.params import TrainParams

    with pytest.raises(ParameterError, match=field):
        TrainParams(**{field: value})
