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
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["nca_loss", "view_loss"]


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
