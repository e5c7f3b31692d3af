"""Augmentation of one-shot features during training, on the batch, in the graph.

The model's features are mel spectrograms in dB relative to the clip's loudest bin, scaled to
[0, 1] (see :func:`samplevae.features.features`). A gain change therefore changes nothing, and
every transform here works on the power spectrogram that the features stand for: undo the
scaling, change the sound, measure the new peak, scale again. That keeps each augmented clip a
valid feature matrix (peak exactly 1, floor ``top_db`` below), as if the changed audio had been
analysed, at a small fraction of the cost of re-analysing audio.

What a one-shot from another kit differs by, and what is done about it (each with probability
``p`` per clip, independently):

- **onset offset**: the hit starts up to ``max_shift`` frames later (the gap is silence);
- **EQ**: a tilt of up to +-``tilt_db`` dB across the mel range, and a bell of up to
  +-``bell_db`` dB at a random band;
- **added noise**: a coloured noise floor ``noise_db`` (a range) below the peak;
- **a short room**: decaying copies of the clip (8 frames, a random decay), ``room_db`` below;
- **decay truncation**: from a random frame on, the level falls by a random slope;
- **the tail of another hit**: another clip of the batch, attenuated by ``mix_db``, added from
  a random frame on.

Pitch is never changed: a tom's class *is* its pitch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf

__all__ = ["AugmentConfig", "augment_features"]

_LN10_10 = math.log(10.0) / 10.0


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the one-shot augmentation (dB, frames); see the module docstring."""

    p: float = 0.5
    max_shift: int = 4
    tilt_db: float = 12.0
    bell_db: float = 8.0
    noise_db: tuple[float, float] = (-80.0, -45.0)
    room_db: tuple[float, float] = (-30.0, -12.0)
    fade_db_per_frame: tuple[float, float] = (0.5, 6.0)
    mix_db: tuple[float, float] = (-35.0, -18.0)


def _uniform(seed, shape, lo, hi):
    return tf.random.stateless_uniform(shape, seed=seed, minval=lo, maxval=hi)


def _coin(seed, n, p):
    return tf.cast(tf.random.stateless_uniform((n, 1, 1), seed=seed) < p, tf.float32)


def _seeds(seed, k):
    return tf.unstack(tf.random.experimental.stateless_split(seed, num=k))


def augment_features(x, seed, *, top_db: float = 80.0, config: AugmentConfig | None = None):
    """Augmented copy of a batch of features.

    Parameters
    ----------
    x : float32 tensor [n, n_mels, n_frames] in [0, 1]
    seed : int32 tensor [2], a stateless seed (one per training step: reproducible runs)
    top_db : the features' dynamic range (``AudioParams.top_db``)
    config : AugmentConfig

    Returns
    -------
    float32 tensor of ``x``'s shape in [0, 1], peak 1 per clip (silent clips stay silent).
    """
    cfg = config or AugmentConfig()
    x = tf.convert_to_tensor(x, tf.float32)
    n, m, t = tf.shape(x)[0], x.shape[1], x.shape[2]
    s = _seeds(seed, 21)
    silent = tf.reduce_max(x, axis=(1, 2), keepdims=True) <= 0.0
    db = x * top_db - top_db  # dB re. peak, floor -top_db
    floor = tf.cast(x <= 0.0, tf.float32)  # bins at the floor stay there

    # onset offset: shift right by k frames, the gap is silence
    k = tf.random.stateless_uniform((n,), seed=s[0], maxval=cfg.max_shift + 1, dtype=tf.int32)
    k = k * tf.cast(tf.random.stateless_uniform((n,), seed=s[1]) < cfg.p, tf.int32)
    src = tf.range(t)[None, :] - k[:, None]  # [n, t]
    db = tf.gather(db, tf.maximum(src, 0), axis=2, batch_dims=1)
    floor = tf.gather(floor, tf.maximum(src, 0), axis=2, batch_dims=1)
    gap = tf.cast(src < 0, tf.float32)[:, None, :]
    db = db * (1.0 - gap) - top_db * gap
    floor = tf.maximum(floor, gap)

    # EQ: tilt + a bell at a random band (the floor does not move)
    band = tf.linspace(-0.5, 0.5, m)[None, :, None]
    tilt = _uniform(s[2], (n, 1, 1), -cfg.tilt_db, cfg.tilt_db) * _coin(s[3], n, cfg.p)
    centre = _uniform(s[4], (n, 1, 1), -0.5, 0.5)
    bell = (
        _uniform(s[5], (n, 1, 1), -cfg.bell_db, cfg.bell_db)
        * _coin(s[6], n, cfg.p)
        * tf.exp(-0.5 * tf.square((band - centre) / 0.08))
    )
    db = db + (tilt * band + bell) * (1.0 - floor)

    power = tf.exp(db * _LN10_10) * (1.0 - floor)  # linear power re. old peak

    # the tail of another hit of the batch
    other = tf.roll(power, shift=1, axis=0)
    start = tf.random.stateless_uniform((n,), seed=s[7], minval=t // 8, maxval=t, dtype=tf.int32)
    src = tf.range(t)[None, :] - start[:, None]
    tail = tf.gather(other, tf.maximum(src, 0), axis=2, batch_dims=1)
    tail = tail * tf.cast(src >= 0, tf.float32)[:, None, :]
    mix = tf.exp(_uniform(s[8], (n, 1, 1), *cfg.mix_db) * _LN10_10) * _coin(s[9], n, cfg.p * 0.5)
    power = power + mix * tail

    # a short room: decaying copies over 8 frames
    decay = _uniform(s[10], (n, 1, 1), 0.3, 0.85)
    room = tf.zeros_like(power)
    for j in range(1, 9):
        shifted = tf.pad(power[:, :, :-j], [[0, 0], [0, 0], [j, 0]])
        room = room + shifted * decay**j
    room_gain = tf.exp(_uniform(s[11], (n, 1, 1), *cfg.room_db) * _LN10_10) * _coin(s[12], n, cfg.p)
    power = power + room_gain * room

    # decay truncation: from frame f on, the level falls by a slope (dB per frame)
    f = _uniform(s[13], (n, 1, 1), t / 10, t)
    slope = _uniform(s[14], (n, 1, 1), *cfg.fade_db_per_frame) * _coin(s[15], n, cfg.p)
    frames = tf.cast(tf.range(t), tf.float32)[None, None, :]
    power = power * tf.exp(-tf.nn.relu(frames - f) * slope * _LN10_10)

    # added noise, coloured by a random tilt, re. the peak
    noise_shape = tf.exp(_uniform(s[16], (n, 1, 1), -10.0, 10.0) * band * _LN10_10)
    noise_level = tf.exp(_uniform(s[17], (n, 1, 1), *cfg.noise_db) * _LN10_10)
    noise_on = _coin(s[18], n, cfg.p)
    white = tf.random.stateless_uniform(tf.shape(power), seed=s[19], minval=0.5, maxval=1.5)
    power = power + noise_on * noise_level * noise_shape * white

    # analyse again: dB re. the new peak, scaled to [0, 1]
    peak = tf.reduce_max(power, axis=(1, 2), keepdims=True)
    db = 10.0 * tf.math.log(tf.maximum(power, 1e-10) / tf.maximum(peak, 1e-10)) / math.log(10.0)
    out = (tf.maximum(db, -top_db) + top_db) / top_db
    return tf.where(silent, x, out)
