"""Inverse autoregressive flow (IAF) built from a masked autoencoder (MADE).

The original computed each flow step's autoregressive parameters with a Python loop over
the latent dimensions: dimension ``j`` had its own small network on the context and
``z[:j]``. A MADE gives exactly that dependency structure in one pass: every weight matrix
is multiplied by a fixed binary mask built once from the units' *degrees*.

Degrees (``D`` = latent size): input ``i`` has degree ``i + 1`` (1..D); hidden units have
degrees in 0..D-1, a hidden unit of degree ``k`` sees the inputs of degree <= k (degree 0
sees the context only); output ``d`` (degree 1..D, once for ``m`` and once for ``s``) sees
the hidden units of degree < d. So output ``j`` depends on ``z[:j]`` and the context, never
on ``z[j:]`` — the original's per-dimension networks, with one shared hidden layer.

Flow step (the original's gated update)::

    m, s  = MADE(z, context)
    sigma = sigmoid(s + sigma_offset)
    z     = reverse(sigma * z + (1 - sigma) * m)
    log|det dz'/dz| = sum(log sigma)

This module holds Keras 3 layers only (TensorFlow-probability's ``AutoregressiveNetwork`` is
a tf_keras layer whose weights a Keras 3 model would not track).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = ["made_degrees", "made_masks", "MaskedDense", "IAFStep"]


def made_degrees(latent_dim: int, hidden_units: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Degrees of a one-hidden-layer MADE.

    Returns
    -------
    input_degrees : np.ndarray [shape=(latent_dim,)], 1..D
    hidden_degrees : np.ndarray [shape=(hidden_units,)], cycling through 0..D-1
    output_degrees : np.ndarray [shape=(2 * latent_dim,)], 1..D twice (``m`` then ``s``)
    """
    d_in = np.arange(1, latent_dim + 1)
    d_hidden = np.arange(hidden_units) % latent_dim
    d_out = np.concatenate([d_in, d_in])
    return d_in, d_hidden, d_out


def made_masks(latent_dim: int, hidden_units: int) -> tuple[np.ndarray, np.ndarray]:
    """Binary masks of a one-hidden-layer MADE.

    Returns
    -------
    input_to_hidden : np.ndarray [shape=(latent_dim, hidden_units)], float32
        1 where hidden degree >= input degree.
    hidden_to_output : np.ndarray [shape=(hidden_units, 2 * latent_dim)], float32
        1 where output degree > hidden degree.
    """
    d_in, d_hidden, d_out = made_degrees(latent_dim, hidden_units)
    m1 = (d_hidden[None, :] >= d_in[:, None]).astype(np.float32)
    m2 = (d_out[None, :] > d_hidden[:, None]).astype(np.float32)
    return m1, m2


class MaskedDense(keras.layers.Layer):
    """Dense layer whose kernel is multiplied by a fixed binary mask.

    Parameters
    ----------
    mask : np.ndarray [shape=(in_units, units)]
        1 keeps a connection, 0 cuts it. The mask is part of the layer's config, not of
        its weights.
    use_bias, activation, kernel_initializer : as :class:`keras.layers.Dense`
    """

    def __init__(
        self,
        mask,
        *,
        use_bias: bool = True,
        activation=None,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.mask = np.asarray(mask, dtype=np.float32)
        if self.mask.ndim != 2:
            raise ValueError(f"mask must be 2-d, got shape {self.mask.shape}")
        self.units = int(self.mask.shape[1])
        self.use_bias = use_bias
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        in_units = int(input_shape[-1])
        if in_units != self.mask.shape[0]:
            raise ValueError(
                f"{self.name}: input has {in_units} units, mask expects {self.mask.shape[0]}"
            )
        self.kernel = self.add_weight(
            name="kernel", shape=self.mask.shape, initializer=self.kernel_initializer
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
            if self.use_bias
            else None
        )

    def call(self, inputs):
        out = ops.matmul(
            inputs, self.kernel * ops.convert_to_tensor(self.mask, dtype=self.kernel.dtype)
        )
        if self.bias is not None:
            out = out + self.bias
        return self.activation(out)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "mask": self.mask.tolist(),
            "use_bias": self.use_bias,
            "activation": keras.activations.serialize(self.activation),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


class IAFStep(keras.layers.Layer):
    """One IAF step conditioned on a context vector.

    ``call([z, context]) -> (z_new, log_det)`` with ``z`` ``[batch, latent_dim]``,
    ``context`` ``[batch, context_units]`` and ``log_det`` ``[batch]`` = ``sum(log sigma)``.
    ``z_new`` is already reversed for the next step (set ``reverse=False`` to skip that).

    Parameters
    ----------
    latent_dim : int
    hidden_units : int
        MADE hidden layer size (>= latent_dim so that every degree is present).
    sigma_offset : float
        Added to ``s`` before the sigmoid (1.0 in the original): the flow starts close to
        the identity.
    """

    def __init__(
        self,
        latent_dim: int,
        hidden_units: int,
        *,
        sigma_offset: float = 1.0,
        reverse: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if hidden_units < latent_dim - 1:
            raise ValueError(
                f"hidden_units ({hidden_units}) must be >= latent_dim - 1 ({latent_dim - 1}) "
                "so every autoregressive degree has a hidden unit"
            )
        self.latent_dim = latent_dim
        self.hidden_units = hidden_units
        self.sigma_offset = float(sigma_offset)
        self.reverse = reverse
        m1, m2 = made_masks(latent_dim, hidden_units)
        dtype = self.dtype_policy
        self.z_to_hidden = MaskedDense(m1, name="z_to_hidden", dtype=dtype)
        self.context_to_hidden = keras.layers.Dense(
            hidden_units, use_bias=False, name="context_to_hidden", dtype=dtype
        )
        self.hidden_to_params = MaskedDense(m2, name="hidden_to_params", dtype=dtype)

    def build(self, input_shape):
        z_shape, context_shape = input_shape
        self.z_to_hidden.build(z_shape)
        self.context_to_hidden.build(context_shape)
        self.hidden_to_params.build((*z_shape[:-1], self.hidden_units))

    def autoregressive_params(self, z, context):
        """``(m, s)`` each ``[batch, latent_dim]``; output ``j`` depends on ``z[:, :j]`` only."""
        h = keras.activations.elu(self.z_to_hidden(z) + self.context_to_hidden(context))
        ms = self.hidden_to_params(h)
        return ms[:, : self.latent_dim], ms[:, self.latent_dim :]

    def call(self, inputs):
        z, context = inputs
        m, s = self.autoregressive_params(z, context)
        s = s + self.sigma_offset
        sigma = ops.sigmoid(s)
        z_new = sigma * z + (1.0 - sigma) * m
        log_det = ops.sum(ops.log_sigmoid(s), axis=-1)
        if self.reverse:
            z_new = ops.flip(z_new, axis=-1)
        return z_new, log_det

    def compute_output_shape(self, input_shape):
        z_shape, _ = input_shape
        return z_shape, z_shape[:-1]

    def get_config(self):
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "hidden_units": self.hidden_units,
            "sigma_offset": self.sigma_offset,
            "reverse": self.reverse,
        }
