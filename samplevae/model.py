"""The IAF-VAE: conv encoder, inverse autoregressive flow, upsampling decoder, classifier.

Architecture (defaults are the original's; every shape follows from the parameters):

- encoder: ``len(conv_channels)`` x (conv ``kernel_size`` 'same' without bias -> max-pool
  ``pool_sizes[i]`` with stride ``pool_stride``, 'valid' -> ELU); flatten (the *conv
  output*, 7x7x32 = 1568 units for 128x125 input) -> dense ``hidden_units`` ELU + dropout
  (the *hidden state*);
- latent: ``mu`` and ``log_var`` (``latent_dim``) from the hidden state;
  ``z0 = mu + exp(log_var / 2) * eps``;
- flow: ``iaf_steps`` x :class:`~samplevae.iaf.IAFStep`, each with its own context
  ``ELU(dense(conv output))`` of ``iaf_context_units`` units;
- decoder: dense ELU + dropout (``decoder_dropout``; None: ``dropout``'s) to the
  conv-output shape, then per layer bilinear resize to the previous encoder map size (finally
  the input size) + conv; ELU between, sigmoid at the end;
- classifier (``n_classes > 0``): dense ``classifier_units`` ELU + dropout on the hidden state,
  then softmax over the classes.

Loss per example: binary cross-entropy summed over all bins + ``beta`` * KL(q(z|x) || N(0, I))
(one-sample estimate through the flow) + class cross-entropy.
The embedding of a clip is the flow's output computed from ``mu`` (no sampling).
"""

from __future__ import annotations

import logging
import math
import sys

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from samplevae.augment import augment_features
from samplevae.contrastive import nca_loss, timbre_loss, timbre_statistics, view_loss
from samplevae.errors import ModelError, ParameterError
from samplevae.features import _dct_matrix
from samplevae.iaf import IAFStep
from samplevae.params import POLICIES, RunParams

__all__ = ["SampleVAE", "build_model", "INFERENCE_BATCH"]

log = logging.getLogger(__name__)

#: Cepstral coefficients (after c0) that ``ModelParams.cepstral_weight`` compares, as the
#: 20 MFCCs of ``bench/generation.py``'s FMD and of ``find_similar(space="mfcc")``.
CEPSTRAL_COEFFS = 19

#: Examples per forward pass in :meth:`SampleVAE.encode` / ``decode`` / ``predict_classes``.
INFERENCE_BATCH = 256

_LOSS_NAMES = ("loss", "reconstruction", "kl", "classifier", "accuracy")


class SampleVAE(keras.Model):
    """IAF-VAE on scaled mel spectrograms. Build with :func:`build_model`.

    Parameters
    ----------
    run_params : RunParams
        Audio params give the input shape, model params the architecture,
        ``train.seed`` seeds sampling and dropout.
    n_classes : int
        Size of the classifier's softmax; 0 = no classifier.
    precision : "float32" | "mixed_bfloat16" | "mixed_float16"
        Keras dtype policy of the heavy layers (convolutions, the large dense layers, their
        dropouts). The weights are float32 under every policy, so the same weights file loads
        into a model of any precision. What must stay exact is computed in float32 whatever
        the policy: ``mu`` and ``log_var`` (the reparameterisation), the flow (its
        log-determinants), the classifier's logits and softmax, the reconstruction loss, the
        KL and the metric-learning term.
    """

    def __init__(
        self, run_params: RunParams, n_classes: int = 0, *, precision: str = "float32", **kwargs
    ):
        super().__init__(**kwargs)
        if n_classes < 0 or n_classes == 1:
            raise ParameterError(f"n_classes must be 0 (no classifier) or >= 2, got {n_classes}")
        if precision not in POLICIES:
            raise ParameterError(
                f"precision must be one of {', '.join(POLICIES)}, got {precision!r}"
            )
        self.precision = precision
        # heavy layers follow the policy; the numerically delicate ones stay float32
        mixed = keras.dtype_policies.DTypePolicy(precision)
        exact = "float32"
        self.run_params = run_params
        self.n_classes = int(n_classes)
        mp = run_params.model
        audio = run_params.audio
        self.input_hw = audio.shape
        self.latent_dim = mp.latent_dim
        self.beta = float(mp.beta)
        self.classifier_weight = float(mp.classifier_weight)
        self.metric_weight = float(mp.metric_weight) if n_classes else 0.0
        self.invariance_weight = float(mp.invariance_weight)
        self.timbre_weight = float(mp.timbre_weight)
        self.augment = bool(run_params.train.augment)
        self.augment_clean = run_params.train.augment_target == "clean"
        self._seed = int(run_params.train.seed)
        self.conv_hw = mp.conv_shapes(audio)
        seed = int(run_params.train.seed)

        # encoder
        self.enc_convs = [
            keras.layers.Conv2D(
                c, mp.kernel_size, padding="same", use_bias=False, name=f"enc_conv{i}", dtype=mixed
            )
            for i, c in enumerate(mp.conv_channels)
        ]
        self.enc_pools = [
            keras.layers.MaxPooling2D(
                pool_size=tuple(p),
                strides=mp.pool_stride,
                padding="valid",
                name=f"enc_pool{i}",
                dtype=mixed,
            )
            for i, p in enumerate(mp.pool_sizes)
        ]
        self.enc_hidden = keras.layers.Dense(
            mp.hidden_units, activation="elu", name="enc_hidden", dtype=mixed
        )
        self.enc_dropout = keras.layers.Dropout(
            mp.dropout, seed=seed + 1, name="enc_dropout", dtype=mixed
        )
        self.dense_mu = keras.layers.Dense(mp.latent_dim, name="mu", dtype=exact)
        self.dense_log_var = keras.layers.Dense(mp.latent_dim, name="log_var", dtype=exact)

        # flow
        context_units = mp.iaf_context_units or mp.latent_dim
        iaf_hidden = mp.iaf_hidden or 2 * mp.latent_dim
        self.flow_contexts = [
            keras.layers.Dense(context_units, activation="elu", name=f"iaf_context{k}", dtype=exact)
            for k in range(mp.iaf_steps)
        ]
        self.flows = [
            IAFStep(
                mp.latent_dim,
                iaf_hidden,
                sigma_offset=mp.iaf_sigma_offset,
                name=f"iaf_step{k}",
                dtype=exact,
            )
            for k in range(mp.iaf_steps)
        ]

        # decoder
        self.dec_shape, stages = mp.decoder_plan(audio)
        self.dec_dense = keras.layers.Dense(
            math.prod(self.dec_shape), activation="elu", name="dec_dense", dtype=mixed
        )
        self.dec_dropout = keras.layers.Dropout(
            mp.dropout_rate("decoder"), seed=seed + 2, name="dec_dropout", dtype=mixed
        )
        self.dec_sizes = [size for _, size, _ in stages]
        last = stages[-1][0]
        # The output conv gets a bias (sets the background level); the others have none, as the original.
        self.dec_convs = [
            keras.layers.Conv2D(
                c,
                mp.kernel_size,
                padding="same",
                use_bias=(k == last),
                name=f"dec_conv{k}",
                dtype=mixed,
            )
            for k, _, c in stages
        ]
        self.loud_weight = float(mp.loud_weight)
        self.cepstral_weight = float(mp.cepstral_weight)
        # Rows 1..CEPSTRAL_COEFFS of the orthonormal DCT-II over the mel axis: the MFCCs of the
        # (dB-scaled) features without c0, i.e. the spectral envelope's detail.
        n_cep = min(CEPSTRAL_COEFFS, audio.n_mels - 1)
        self._cepstrum = _dct_matrix(n_cep + 1, audio.n_mels)[1:].astype(np.float32)
        self._timbre_dct = _dct_matrix(20, audio.n_mels).astype(np.float32)

        # classifier
        self.cls_layers = []
        cls_rate = mp.dropout_rate("classifier")
        if self.n_classes:
            for i, u in enumerate(mp.classifier_units):
                self.cls_layers.append(
                    keras.layers.Dense(u, activation="elu", name=f"cls_dense{i}", dtype=mixed)
                )
                self.cls_layers.append(
                    keras.layers.Dropout(
                        cls_rate, seed=seed + 10 + i, name=f"cls_dropout{i}", dtype=mixed
                    )
                )
            self.cls_layers.append(
                keras.layers.Dense(self.n_classes, name="cls_logits", dtype=exact)
            )

        self.sampler = keras.random.SeedGenerator(seed, name="latent_sampler")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in _LOSS_NAMES}
        self._inference = {}

    def build(self, input_shape=None):
        """Create every weight by running each part once on zeros."""
        x = ops.zeros((1, *self.input_hw))
        conv_out, hidden = self.encoder(x)
        self.dense_log_var(hidden)
        z, _ = self.flow(self.dense_mu(hidden), conv_out)
        self.decoder_logits(z)
        if self.n_classes:
            self.classifier_logits(hidden)
        self.built = True

    # ---- building blocks (tensors in, tensors out) -------------------------------------

    def encoder(self, x, training=False):
        """``x`` [n, n_mels, n_frames] -> (conv output [n, units], hidden state [n, hidden_units])."""
        h = ops.expand_dims(x, -1)
        for conv, pool in zip(self.enc_convs, self.enc_pools, strict=True):
            h = keras.activations.elu(pool(conv(h)))
        conv_out = ops.reshape(h, (-1, math.prod(h.shape[1:])))
        hidden = self.enc_dropout(self.enc_hidden(conv_out), training=training)
        return conv_out, hidden

    def flow(self, z0, conv_out):
        """Run the IAF: ``z0`` [n, D] -> (``z`` [n, D], sum of log-determinants [n])."""
        z = z0
        log_det = ops.zeros_like(z0[:, 0])
        for context_layer, step in zip(self.flow_contexts, self.flows, strict=True):
            z, ld = step([z, context_layer(conv_out)])
            log_det = log_det + ld
        return z, log_det

    def decoder_logits(self, z, training=False):
        """``z`` [n, D] -> pre-sigmoid spectrogram [n, n_mels, n_frames]."""
        h = self.dec_dropout(self.dec_dense(z), training=training)
        h = ops.reshape(h, (-1, *self.dec_shape))
        last = len(self.dec_convs) - 1
        for k, (size, conv) in enumerate(zip(self.dec_sizes, self.dec_convs, strict=True)):
            # bilinear resizing (and its gradient) is several times slower in bfloat16 than in
            # float32 on CPU: resize in float32, the conv casts back to its compute dtype
            h = conv(ops.image.resize(ops.cast(h, "float32"), size, interpolation="bilinear"))
            if k < last:
                h = keras.activations.elu(h)
        return ops.cast(ops.squeeze(h, -1), "float32")

    def classifier_logits(self, hidden, training=False):
        """Hidden state [n, hidden_units] -> class logits [n, n_classes]."""
        h = hidden
        for layer in self.cls_layers:
            h = layer(h, training=training) if isinstance(layer, keras.layers.Dropout) else layer(h)
        return h

    def embed(self, x):
        """Deterministic embedding: flow output from ``mu``. [n, n_mels, n_frames] -> [n, D]."""
        conv_out, hidden = self.encoder(x, training=False)
        z, _ = self.flow(self.dense_mu(hidden), conv_out)
        return z

    def call(self, inputs, training=False):
        """Deterministic pass (``z0 = mu``): dict of ``reconstruction`` [n, n_mels, n_frames] in
        [0, 1], ``embedding`` [n, D] and, with a classifier, ``class_probabilities`` [n, K]."""
        conv_out, hidden = self.encoder(inputs, training=training)
        z, _ = self.flow(self.dense_mu(hidden), conv_out)
        out = {
            "reconstruction": ops.sigmoid(self.decoder_logits(z, training=training)),
            "embedding": z,
        }
        if self.n_classes:
            out["class_probabilities"] = ops.softmax(
                self.classifier_logits(hidden, training=training)
            )
        return out

    def per_example_losses(self, x, y, eps, training=False, target=None, view=None):
        """Losses of each example (no reduction).

        Parameters
        ----------
        x : [n, n_mels, n_frames] float32 features in [0, 1]
        y : [n] int32 class indices (ignored without a classifier)
        eps : [n, latent_dim] standard-normal noise for ``z0 = mu + sigma * eps``
        target : [n, n_mels, n_frames] what the reconstruction is scored against (None: ``x``)
        view : [n, n_mels, n_frames] another (augmented) view of each clip, for the invariance
            term (None: no term)

        Returns
        -------
        dict of [n] tensors: ``reconstruction`` (summed BCE, nats), ``kl`` (nats),
        ``classifier`` (cross-entropy, 0 without classifier), ``metric`` (NCA, 0 without),
        ``invariance`` (0 without a view), ``timbre`` (0 without), ``correct`` (0/1),
        and ``class_probabilities`` [n, K] with a classifier.
        """
        conv_out, hidden = self.encoder(x, training=training)
        mu = self.dense_mu(hidden)  # float32 under every policy
        log_var = self.dense_log_var(hidden)
        z0 = mu + ops.exp(0.5 * log_var) * ops.cast(eps, mu.dtype)
        z, log_det = self.flow(z0, conv_out)
        logits = self.decoder_logits(z, training=training)
        if target is not None:  # from here on, x is what the reconstruction is scored against
            x = target
        # -[x log sigmoid(l) + (1 - x) log(1 - sigmoid(l))] == softplus(l) - x * l
        bce = ops.softplus(logits) - x * logits
        if self.loud_weight:
            bce = bce * (1.0 + self.loud_weight * x)
        rec = ops.sum(bce, axis=(1, 2))
        if self.cepstral_weight:
            # squared error of the cepstra of each frame (features' units), summed
            diff = ops.sigmoid(ops.cast(logits, "float32")) - x
            cep = ops.einsum("km,nmt->nkt", ops.convert_to_tensor(self._cepstrum), diff)
            rec = rec + self.cepstral_weight * ops.sum(ops.square(cep), axis=(1, 2))
        log_q = ops.sum(-0.5 * ops.square(eps) - 0.5 * log_var, axis=-1) - log_det
        log_p = ops.sum(-0.5 * ops.square(z), axis=-1)
        out = {"reconstruction": rec, "kl": log_q - log_p}
        mp = self.run_params.model
        # the embedding search uses: the flow's output from mu
        on_search = self.metric_weight or self.timbre_weight or view is not None
        search_z = self.flow(mu, conv_out)[0] if on_search else None
        if self.metric_weight and self.n_classes:
            out["metric"] = nca_loss(search_z, y, temperature=mp.metric_temperature)
        else:
            out["metric"] = ops.zeros_like(rec)
        if self.timbre_weight:  # the clips' own MFCC statistics (x is the scored target)
            out["timbre"] = timbre_loss(
                search_z, timbre_statistics(x, self._timbre_dct), temperature=mp.timbre_temperature
            )
        else:
            out["timbre"] = ops.zeros_like(rec)
        if view is not None:
            v_conv, v_hidden = self.encoder(view, training=training)
            v_z = self.flow(self.dense_mu(v_hidden), v_conv)[0]
            out["invariance"] = view_loss(search_z, v_z, temperature=mp.invariance_temperature)
        else:
            out["invariance"] = ops.zeros_like(rec)
        if self.n_classes:
            cls_logits = self.classifier_logits(hidden, training=training)
            out["classifier"] = ops.sparse_categorical_crossentropy(y, cls_logits, from_logits=True)
            out["correct"] = ops.cast(
                ops.equal(ops.argmax(cls_logits, axis=-1), ops.cast(y, "int64")), "float32"
            )
            out["class_probabilities"] = ops.softmax(cls_logits)
        else:
            out["classifier"] = ops.zeros_like(rec)
            out["correct"] = ops.zeros_like(rec)
        return out

    def example_loss(self, losses, sample_weight=None):
        """Loss of each example [n]: reconstruction + beta * KL + (weighted) classifier CE
        (+ the weighted NCA, view-invariance and timbre terms where they are on).

        The one definition of the loss: training (:meth:`train_step`) minimises its mean and
        validation (:meth:`test_step`) reports its mean over the validation examples.
        """
        cls = (
            losses["classifier"] if sample_weight is None else losses["classifier"] * sample_weight
        )
        total = losses["reconstruction"] + self.beta * losses["kl"] + self.classifier_weight * cls
        if self.metric_weight:
            total = total + self.metric_weight * losses["metric"]
        if self.invariance_weight:
            total = total + self.invariance_weight * losses["invariance"]
        if self.timbre_weight:
            total = total + self.timbre_weight * losses["timbre"]
        return total

    def total_loss(self, losses, sample_weight=None):
        """Batch loss: mean of :meth:`example_loss`."""
        return ops.mean(self.example_loss(losses, sample_weight))

    # ---- Keras training protocol ----------------------------------------------------------

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Under a tf.distribute strategy Keras's TensorFlow trainer averages the first batch
        # over the replicas to build the model symbolically, which fails on a dict batch under
        # MultiWorkerMirroredStrategy. This model creates every weight in build() and is
        # compiled without losses or metrics: there is nothing to build.
        if self.built and self._compile_loss is None and self._compile_metrics is None:
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def train_step(self, data):
        """One optimiser step on ``(x, y)``, ``(x, y, class_weight_per_example)`` or a dict
        with keys ``x``, ``y`` and optionally ``w``; returns the running means over the
        examples seen since the metrics were reset (``loss``, ``reconstruction``, ``kl``,
        ``classifier``, ``accuracy``)."""
        x, y, w, _ = _unpack(data)
        clean, target = x, None
        # one stateless seed per step: reproducible, and exact across a resume
        step = tf.cast(self.optimizer.iterations, tf.int32)
        if self.augment:
            if self.augment_clean:
                target = x
            x = augment_features(
                x,
                tf.stack([tf.constant(self._seed, tf.int32), step]),
                top_db=self.run_params.audio.top_db,
            )
        view = None
        if self.invariance_weight:
            # another augmentation of the same clips, from a stream of seeds of its own
            view = augment_features(
                clean,
                tf.stack([tf.constant(self._seed + 1, tf.int32), step]),
                top_db=self.run_params.audio.top_db,
            )
        eps = self._train_noise(ops.shape(x)[0])
        with tf.GradientTape() as tape:
            losses = self.per_example_losses(x, y, eps, training=True, target=target, view=view)
            per_example = self.example_loss(losses, w)
            loss = ops.mean(per_example)
            # Under tf.distribute each replica's gradients are summed: divide by the replica
            # count so the step is that of the global batch's mean loss. scale_loss is the
            # LossScaleOptimizer's loss scale under mixed_float16 (identity otherwise).
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(loss / replicas if replicas > 1 else loss)
        grads = tape.gradient(scaled, self.trainable_variables)
        if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            # A step whose scaled gradients overflow is skipped (and the loss scale halved);
            # count it anyway, so that the step counter stays the number of batches trained
            # (validation, checkpoints and resume are scheduled on it).
            skipped = ops.logical_not(self.optimizer.check_finite(grads))
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables, strict=True))
            self.optimizer.iterations.assign_add(ops.cast(skipped, self.optimizer.iterations.dtype))
        else:
            grads = _finite_or_zero(grads, self.optimizer.iterations)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables, strict=True))
        return self._track(per_example, losses)

    def _train_noise(self, n):
        """``eps`` [n, latent_dim] of a training step. Under tf.distribute every replica draws
        the noise of the whole global batch from the (mirrored) generator and takes its own
        slice, so the replicas together use exactly the noise one device would."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        ctx = tf.distribute.get_replica_context()
        if replicas == 1 or ctx is None:
            return keras.random.normal((n, self.latent_dim), seed=self.sampler)
        eps = keras.random.normal((n * replicas, self.latent_dim), seed=self.sampler)
        return ops.reshape(eps, (replicas, n, self.latent_dim))[ctx.replica_id_in_sync_group]

    def test_step(self, data):
        """Deterministic evaluation of a batch: the same per-example loss as training, with
        dropout off and ``z0 = mu + sigma * eps`` from the batch's fixed noise.

        ``data`` as in :meth:`train_step`; a dict may carry ``eps`` [n, latent_dim] (one fixed
        draw per validation example, as :func:`samplevae.training.train` passes). Without it
        the noise is a stateless draw from ``train.seed``: the same on every call, and the
        model's random generators are left untouched (evaluating never changes training).
        With ``invariance_weight`` the view is one fixed augmentation, the same on every call.
        """
        x, y, w, eps = _unpack(data)
        if eps is None:
            eps = tf.random.stateless_normal(
                (ops.shape(x)[0], self.latent_dim), seed=(int(self.run_params.train.seed), 12345)
            )
        view = None
        if self.invariance_weight:  # one fixed augmentation: the same on every call
            view = augment_features(
                x, tf.constant([self._seed + 1, -1], tf.int32), top_db=self.run_params.audio.top_db
            )
        losses = self.per_example_losses(x, y, eps, training=False, view=view)
        mask = data.get("m") if isinstance(data, dict) else None  # padding under a strategy
        return self._track(self.example_loss(losses, w), losses, mask)

    def _track(self, per_example, losses, mask=None):
        """Update the running means (over examples; those of ``mask`` 0 left out) and return
        them."""
        self.trackers["loss"].update_state(per_example, sample_weight=mask)
        for name in ("reconstruction", "kl", "classifier"):
            self.trackers[name].update_state(losses[name], sample_weight=mask)
        self.trackers["accuracy"].update_state(losses["correct"], sample_weight=mask)
        ctx = tf.distribute.get_replica_context()
        if ctx is None or tf.distribute.get_strategy().num_replicas_in_sync == 1:
            return {name: t.result() for name, t in self.trackers.items()}
        # Under a strategy each replica's means cover its part of the batches: sum totals and
        # counts over the replicas (one all-reduce), so every replica returns the means of the
        # global batches, the values one device would log (train() then takes the first).
        names = list(self.trackers)
        sums = ctx.all_reduce(
            "SUM",
            ops.stack(
                [ops.cast(self.trackers[n].total, "float32") for n in names]
                + [ops.cast(self.trackers[n].count, "float32") for n in names]
            ),
        )
        k = len(names)
        out = {n: ops.divide_no_nan(sums[i], sums[k + i]) for i, n in enumerate(names)}
        if _multi_worker(tf.distribute.get_strategy()):
            # Keras reduces each output over the workers with reduce(MEAN, axis=0), which
            # needs an axis: give it shape [1] (all replicas hold the same value)
            out = {n: ops.reshape(v, (1,)) for n, v in out.items()}
        return out

    # ---- numpy API ----------------------------------------------------------------------

    @property
    def has_classifier(self) -> bool:
        return self.n_classes > 0

    def _compiled(self, name: str):
        fn = self._inference.get(name)
        if fn is None:
            spec_x = tf.TensorSpec((None, *self.input_hw), tf.float32)
            spec_z = tf.TensorSpec((None, self.latent_dim), tf.float32)
            if name == "encode":
                fn = tf.function(self.embed, input_signature=[spec_x])
            elif name == "decode":
                fn = tf.function(
                    lambda z: ops.sigmoid(self.decoder_logits(z, training=False)),
                    input_signature=[spec_z],
                )
            else:
                fn = tf.function(
                    lambda x: ops.softmax(
                        self.classifier_logits(self.encoder(x)[1], training=False)
                    ),
                    input_signature=[spec_x],
                )
            self._inference[name] = fn
        return fn

    def _batched(
        self, name: str, array: np.ndarray, out_dim: tuple[int, ...], batch_size: int
    ) -> np.ndarray:
        fn = self._compiled(name)
        n = array.shape[0]
        out = np.empty((n, *out_dim), dtype=np.float32)
        for start in range(0, n, batch_size):
            out[start : start + batch_size] = fn(
                tf.constant(array[start : start + batch_size])
            ).numpy()
        return out

    def _check_feats(self, feats) -> np.ndarray:
        feats = np.asarray(feats, dtype=np.float32)
        if feats.ndim != 3 or feats.shape[1:] != tuple(self.input_hw):
            raise ParameterError(
                f"features must have shape [n, {self.input_hw[0]}, {self.input_hw[1]}] "
                f"(n_mels, n_frames of this model), got {feats.shape}"
            )
        return feats

    def encode(self, feats: np.ndarray, *, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """Embeddings of clips.

        Parameters
        ----------
        feats : np.ndarray [shape=(n, n_mels, n_frames)], features in [0, 1]

        Returns
        -------
        np.ndarray [shape=(n, latent_dim)], float32
            Flow output computed from the posterior mean (deterministic).
        """
        feats = self._check_feats(feats)
        return self._batched("encode", feats, (self.latent_dim,), batch_size)

    def decode(self, z: np.ndarray, *, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """Spectrograms from latent points.

        Parameters
        ----------
        z : np.ndarray [shape=(n, latent_dim)]

        Returns
        -------
        np.ndarray [shape=(n, n_mels, n_frames)], float32 in [0, 1]
        """
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ParameterError(f"z must have shape [n, {self.latent_dim}], got {z.shape}")
        return self._batched("decode", z, tuple(self.input_hw), batch_size)

    def predict_classes(
        self, feats: np.ndarray, *, batch_size: int = INFERENCE_BATCH
    ) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        feats : np.ndarray [shape=(n, n_mels, n_frames)]

        Returns
        -------
        np.ndarray [shape=(n, n_classes)], float32, rows sum to 1

        Raises
        ------
        ModelError
            The model has no classifier (it was trained on a dataset without classes).
        """
        if not self.has_classifier:
            raise ModelError(
                "this model has no classifier: it was trained on a dataset without classes"
            )
        feats = self._check_feats(feats)
        return self._batched("predict", feats, (self.n_classes,), batch_size)

    def _rng_generators(self) -> dict[str, keras.random.SeedGenerator]:
        gens = {"latent_sampler": self.sampler}
        for layer in (self.enc_dropout, self.dec_dropout, *self.cls_layers):
            gen = getattr(layer, "seed_generator", None)
            if gen is not None:
                gens[layer.name] = gen
        return gens

    def rng_state(self) -> dict[str, list[int]]:
        """States of the sampling and dropout generators (saved with checkpoints)."""
        return {
            name: np.asarray(g.state.numpy()).tolist() for name, g in self._rng_generators().items()
        }

    def set_rng_state(self, state: dict[str, list[int]]) -> None:
        """Restore :meth:`rng_state` (unknown names are ignored)."""
        for name, gen in self._rng_generators().items():
            if name in state:
                gen.state.assign(np.asarray(state[name], dtype=gen.state.dtype))

    def flow_variables(self) -> list:
        """Every weight of the IAF (context layers and MADEs)."""
        out = []
        for layer in (*self.flow_contexts, *self.flows):
            out += layer.weights
        return out


def _finite_or_zero(grads, step):
    """The gradients, or zeros for all of them if any is NaN or infinite (and a line on
    stderr naming the step): such a step changes the weights only by Adam's momentum, instead
    of writing NaN into them.
    On the 2-core AMX CPU, bfloat16 training now and then gave NaN gradients for the first
    convolutions while the loss stayed finite; applied, they silently turned those kernels
    into NaN and the encoder into a constant (docs/reliability.md)."""
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads if g is not None])

    def warn():
        tf.print(
            "samplevae: non-finite gradients at step",
            step + 1,
            "- its gradients are zeroed",
            output_stream=sys.stderr,
        )
        return tf.constant(True)

    tf.cond(finite, lambda: tf.constant(True), warn)
    return [None if g is None else tf.where(finite, g, tf.zeros_like(g)) for g in grads]


def _multi_worker(strategy) -> bool:
    """A MultiWorkerMirroredStrategy over more than one worker."""
    extended = getattr(strategy, "extended", None)
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and bool(
        getattr(extended, "_in_multi_worker_mode", lambda: False)()
    )


def _unpack(data):
    """``(x, y)``, ``(x, y, w)`` or a dict of ``x``, ``y``, [``w``], [``eps``] ->
    ``(x, y, w or None, eps or None)``."""
    if isinstance(data, dict):
        return data["x"], data["y"], data.get("w"), data.get("eps")
    if len(data) == 3:
        x, y, w = data
        return x, y, w, None
    x, y = data
    return x, y, None, None


def build_model(
    run_params: RunParams, n_classes: int = 0, *, precision: str = "float32"
) -> SampleVAE:
    """Build (and create the weights of) the IAF-VAE for ``run_params``.

    Parameters
    ----------
    run_params : RunParams
    n_classes : int
        0 = no classifier, else the number of classes (>= 2).
    precision : str
        Dtype policy of the heavy layers (see :class:`SampleVAE`). Training passes
        ``run_params.train.precision``; inference models are float32 (the default).

    Returns
    -------
    SampleVAE
        With all weights created (random); not compiled.
    """
    model = SampleVAE(run_params, n_classes=n_classes, precision=precision, name="sample_vae")
    model.build((None, *run_params.audio.shape))
    return model
