"""A metric term on the latent space: neighbourhood components analysis (NCA).

Similarity search ranks library entries by Euclidean distance between embeddings. The VAE's
own loss shapes that space only indirectly (what reconstructs well), so with classes the
training can add a term that asks for exactly what search needs: each clip's nearest
neighbours in the batch are of its own class. NCA's soft nearest-neighbour rule does that with
the same Euclidean distances search uses (Goldberger et al., 2004):

    p_ij = softmax_j(-|z_i - z_j|^2 / (temperature * D)),  j != i
    loss_i = -log sum_{j: y_j = y_i} p_ij

``D`` (the latent size) keeps the temperature's meaning the same whatever the size: random
points of N(0, I) are ``2 D`` apart in squared distance. Clips whose class has no other
member in the batch get no term.

Without labels, :func:`view_loss` asks for invariance instead: each clip and an augmented view
of it (another EQ, room, noise floor, onset, decay: what differs between kits) should be each
other's nearest neighbours among the batch's 2n embeddings, by the same scaled Euclidean
distance (an NT-Xent / SimCLR loss, Chen et al., 2020, with search's distance in place of the
cosine).

:func:`timbre_loss` distils a model-free similarity into the space: on kits a model never
heard, the MFCC statistics of the clips (:func:`samplevae.features.mfcc_stats_of_features`)
find same-class neighbours more often than the latent does. Each clip's soft neighbour
distribution among the batch by those statistics (standardised over the batch) is the target of
its neighbour distribution by the embedding (a KL divergence, as in stochastic neighbour
embedding, Hinton & Roweis, 2002).
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["nca_loss", "timbre_loss", "timbre_statistics", "view_loss"]


def _scaled_sq_distances(z, temperature):
    """-|z_i - z_j|^2 / (temperature * D) [n, n], float32."""
    z = tf.cast(z, tf.float32)
    d = tf.cast(tf.shape(z)[1], tf.float32)
    sq = tf.reduce_sum(tf.square(z), axis=1)
    d2 = tf.maximum(sq[:, None] + sq[None, :] - 2.0 * tf.matmul(z, z, transpose_b=True), 0.0)
    return -d2 / (temperature * d)


def nca_loss(z, y, *, temperature: float = 0.1):
    """Per-example NCA loss of a batch.

    Parameters
    ----------
    z : float tensor [n, D], embeddings
    y : int tensor [n], class indices
    temperature : float, relative to ``D`` (see the module docstring)

    Returns
    -------
    float32 tensor [n] (0 where no other clip of the batch shares the class)
    """
    n = tf.shape(z)[0]
    eye = tf.eye(n, dtype=tf.bool)
    logits = tf.where(eye, tf.constant(-1e9, tf.float32), _scaled_sq_distances(z, temperature))
    y = tf.cast(tf.reshape(y, (-1,)), tf.int32)
    same = tf.logical_and(tf.equal(y[:, None], y[None, :]), tf.logical_not(eye))
    log_all = tf.reduce_logsumexp(logits, axis=1)
    log_same = tf.reduce_logsumexp(tf.where(same, logits, tf.constant(-1e9, tf.float32)), axis=1)
    has_pair = tf.reduce_any(same, axis=1)
    return tf.where(has_pair, log_all - log_same, 0.0)


def view_loss(z, z_view, *, temperature: float = 0.1):
    """Per-example view-invariance loss of a batch (NT-Xent with scaled Euclidean distances).

    Parameters
    ----------
    z : float tensor [n, D], embeddings of the clips
    z_view : float tensor [n, D], embeddings of another view of the same clips, in order
    temperature : float, relative to ``D`` (see the module docstring)

    Returns
    -------
    float32 tensor [n]: for each clip, the mean over its two directions (clip -> view, view ->
    clip) of ``-log p(partner)``, the partner picked among the other 2n - 1 embeddings.
    """
    both = tf.concat([tf.cast(z, tf.float32), tf.cast(z_view, tf.float32)], axis=0)
    n = tf.shape(z)[0]
    eye = tf.eye(2 * n, dtype=tf.bool)
    logits = tf.where(eye, tf.constant(-1e9, tf.float32), _scaled_sq_distances(both, temperature))
    partner = tf.concat([tf.range(n, 2 * n), tf.range(n)], axis=0)
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=partner, logits=logits)
    return 0.5 * (nll[:n] + nll[n:])


def timbre_statistics(x, dct):
    """MFCC statistics of a batch of features, in TensorFlow: ``[n, 4 k]`` (mean and standard
    deviation over time of ``dct @ x`` and of its frame-to-frame differences).

    Parameters
    ----------
    x : float tensor [n, n_mels, n_frames], features in [0, 1]
    dct : float array [k, n_mels], e.g. ``samplevae.features._dct_matrix(20, n_mels)``

    :func:`samplevae.features.mfcc_stats_of_features` are these times ``top_db`` (the
    features' dB scale), less a constant on the MFCC means: an affine map per column, which
    the standardisation in :func:`timbre_loss` removes.
    """
    c = tf.einsum("km,nmt->nkt", tf.constant(dct, tf.float32), tf.cast(x, tf.float32))
    # np.gradient along time: central differences, one-sided at the ends
    d = tf.concat(
        [
            c[:, :, 1:2] - c[:, :, :1],
            0.5 * (c[:, :, 2:] - c[:, :, :-2]),
            c[:, :, -1:] - c[:, :, -2:-1],
        ],
        axis=2,
    )

    def stats(a):
        mean = tf.reduce_mean(a, axis=2)
        std = tf.sqrt(tf.reduce_mean(tf.square(a - mean[:, :, None]), axis=2) + 1e-8)
        return [mean, std]

    return tf.concat(stats(c) + stats(d), axis=1)


def timbre_loss(z, t, *, temperature: float = 0.1):
    """Per-example neighbour-distillation loss of a batch.

    Parameters
    ----------
    z : float tensor [n, D], embeddings
    t : float tensor [n, K], what the neighbours are taken from (e.g. :func:`timbre_statistics`;
        standardised over the batch here, no gradient through it)
    temperature : float, relative to ``D`` and ``K`` (see the module docstring)

    Returns
    -------
    float32 tensor [n]: ``KL(p_i || q_i)``, ``p_i`` the softmax over the other clips of
    ``-|t_i - t_j|^2 / (temperature * K)``, ``q_i`` the same of the embeddings.
    """
    t = tf.stop_gradient(tf.cast(t, tf.float32))
    mean, var = tf.nn.moments(t, axes=[0])
    t = (t - mean) / tf.sqrt(var + 1e-6)
    n = tf.shape(z)[0]
    eye = tf.eye(n, dtype=tf.bool)
    off = tf.constant(-1e9, tf.float32)
    log_p = tf.nn.log_softmax(tf.where(eye, off, _scaled_sq_distances(t, temperature)), axis=1)
    log_q = tf.nn.log_softmax(tf.where(eye, off, _scaled_sq_distances(z, temperature)), axis=1)
    p = tf.where(eye, 0.0, tf.exp(log_p))
    return tf.reduce_sum(p * tf.where(eye, 0.0, log_p - log_q), axis=1)
