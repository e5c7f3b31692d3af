"""The IAF-VAE model: shapes from params, the MADE's autoregressive property, the flow's
log-determinant, gradients reaching every flow weight, and save/load identity."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from samplevae.demo import smoke_run_params as tiny_run_params
from samplevae.errors import ModelError, ParameterError
from samplevae.iaf import IAFStep, MaskedDense, made_masks
from samplevae.model import build_model
from samplevae.modeldir import ModelDir
from samplevae.params import AudioParams, ModelParams, RunParams


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def tiny_model():
    keras.utils.set_random_seed(0)
    return build_model(tiny_run_params(), n_classes=4)


def _feats(rng, params: RunParams, n: int) -> np.ndarray:
    return rng.random((n, *params.audio.shape), dtype=np.float32)


# ---- shapes follow the parameters ---------------------------------------------------------


@pytest.mark.parametrize(
    "audio, model",
    [
        (
            AudioParams(sample_sec=0.5, n_mels=32, n_fft=512, hop_length=128),
            ModelParams(
                conv_channels=(8, 8),
                pool_sizes=((2, 2), (2, 2)),
                hidden_units=32,
                latent_dim=8,
                iaf_steps=2,
                classifier_units=(16,),
            ),
        ),
        (
            AudioParams(sample_sec=1.3, n_mels=40, n_fft=512, hop_length=160),
            ModelParams(
                conv_channels=(4, 6, 4),
                pool_sizes=((4, 2), (2, 2), (2, 4)),
                hidden_units=24,
                latent_dim=6,
                iaf_steps=3,
                classifier_units=(8, 8),
            ),
        ),
        (
            AudioParams(sample_sec=0.25, n_mels=16, n_fft=256, hop_length=64),
            ModelParams(
                conv_channels=(4,),
                pool_sizes=((2, 2),),
                hidden_units=16,
                latent_dim=4,
                iaf_steps=0,
                classifier_units=(),
            ),
        ),
    ],
)
@pytest.mark.parametrize("n_classes", [0, 3])
def test_shapes_follow_params(audio, model, n_classes, rng):
    params = RunParams(audio=audio, model=model)
    m = build_model(params, n_classes=n_classes)
    x = _feats(rng, params, 5)
    z = m.encode(x)
    assert z.shape == (5, model.latent_dim) and z.dtype == np.float32
    out = m.decode(z)
    assert out.shape == (5, *audio.shape)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert m.has_classifier == bool(n_classes)
    if n_classes:
        p = m.predict_classes(x)
        assert p.shape == (5, n_classes)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    else:
        with pytest.raises(ModelError, match="no classifier"):
            m.predict_classes(x)


@pytest.mark.parametrize("classifier_dropout", [None, 0.0, 0.5])
def test_classifier_dropout_applies_to_the_classifier_only(rng, classifier_dropout):
    """``classifier_dropout`` sets the classifier's rate alone; None means ``dropout``'s."""
    base = tiny_run_params()
    params = base.replace(
        model=base.model.replace(dropout=0.0, classifier_dropout=classifier_dropout)
    )
    m = build_model(params, n_classes=3)
    x = tf.constant(_feats(rng, params, 8))
    _, h1 = m.encoder(x, training=True)
    _, h2 = m.encoder(x, training=True)
    np.testing.assert_array_equal(h1.numpy(), h2.numpy())  # encoder dropout is 0
    logits = [m.classifier_logits(h1, training=True).numpy() for _ in range(2)]
    stochastic = not np.allclose(logits[0], logits[1])
    assert stochastic == bool(classifier_dropout)
    np.testing.assert_allclose(  # inference never drops
        m.classifier_logits(h1).numpy(), m.classifier_logits(h1).numpy()
    )
    if classifier_dropout is None:  # None follows `dropout`: with it on, the classifier drops
        m = build_model(params.replace(model=params.model.replace(dropout=0.5)), n_classes=3)
        logits = [m.classifier_logits(h1, training=True).numpy() for _ in range(2)]
        assert not np.allclose(logits[0], logits[1])


@pytest.mark.parametrize("decoder_dropout", [None, 0.0, 0.5])
def test_decoder_dropout_sets_the_decoders_rate_alone(rng, decoder_dropout):
    """``decoder_dropout`` sets the decoder's rate, the encoder keeps ``dropout``'s; None
    means ``dropout``'s."""
    base = tiny_run_params()
    params = base.replace(model=base.model.replace(dropout=0.5, decoder_dropout=decoder_dropout))
    m = build_model(params, n_classes=3)
    x = tf.constant(_feats(rng, params, 8))
    _, h1 = m.encoder(x, training=True)
    _, h2 = m.encoder(x, training=True)
    assert not np.allclose(h1.numpy(), h2.numpy())  # the encoder drops at `dropout`'s rate
    z = tf.constant(rng.standard_normal((8, params.model.latent_dim)).astype(np.float32))
    out = [m.decoder_logits(z, training=True).numpy() for _ in range(2)]
    assert (not np.allclose(out[0], out[1])) == (decoder_dropout != 0.0)
    np.testing.assert_array_equal(  # inference never drops
        m.decoder_logits(z).numpy(), m.decoder_logits(z).numpy()
    )


def test_default_architecture_matches_original():
    m = build_model(RunParams(), n_classes=9)
    assert m.conv_hw == [(63, 61), (31, 30), (15, 14), (7, 7)]
    assert m.dec_shape == (7, 7, 32)  # 1568-unit conv output
    assert m.dec_sizes[-1] == (128, 125)
    assert len(m.flows) == 5 and m.latent_dim == 64


def test_encode_is_deterministic_and_batched(tiny_model, rng):
    x = _feats(rng, tiny_model.run_params, 300)  # more than one inference batch
    z1 = tiny_model.encode(x)
    z2 = tiny_model.encode(x)
    assert np.array_equal(z1, z2)
    np.testing.assert_allclose(tiny_model.encode(x[:7]), z1[:7], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tiny_model.encode(x, batch_size=64), z1, rtol=1e-5, atol=1e-5)


def test_wrong_input_shapes_are_clear(tiny_model):
    with pytest.raises(ParameterError, match=r"\[n, 32, 63\]"):
        tiny_model.encode(np.zeros((2, 32, 17), np.float32))
    with pytest.raises(ParameterError, match="z must have shape"):
        tiny_model.decode(np.zeros((2, 3), np.float32))


def test_single_class_classifier_is_refused():
    with pytest.raises(ParameterError, match="n_classes"):
        build_model(tiny_run_params(), n_classes=1)


# ---- MADE / IAF --------------------------------------------------------------------------


@pytest.mark.parametrize("latent, hidden", [(8, 16), (5, 7), (64, 128)])
def test_made_masks_are_autoregressive(latent, hidden):
    m1, m2 = made_masks(latent, hidden)
    # connectivity input i -> output j (m and s halves)
    path = (m1 @ m2) > 0
    for half in (path[:, :latent], path[:, latent:]):
        assert not np.any(np.tril(half)), "output j must not see inputs j..D-1"
        # ...and every allowed connection exists (each output sees all earlier inputs)
        assert np.all(half[np.triu_indices(latent, 1)])


@pytest.mark.parametrize("latent, hidden", [(8, 16), (6, 9)])
def test_iaf_step_is_autoregressive(latent, hidden, rng):
    """Perturb input i: the flow parameters (m, s) of dimensions <= i do not move."""
    step = IAFStep(latent, hidden, name="iaf")
    z = rng.standard_normal((4, latent)).astype(np.float32)
    ctx = rng.standard_normal((4, 5)).astype(np.float32)
    step([z, ctx])
    # random biases/weights everywhere so no output is trivially constant
    for v in step.weights:
        v.assign(rng.standard_normal(v.shape).astype(np.float32))
    m0, s0 = (t.numpy() for t in step.autoregressive_params(z, ctx))
    for i in range(latent):
        zp = z.copy()
        zp[:, i] += 3.0
        m1, s1 = (t.numpy() for t in step.autoregressive_params(zp, ctx))
        np.testing.assert_array_equal(m1[:, : i + 1], m0[:, : i + 1])
        np.testing.assert_array_equal(s1[:, : i + 1], s0[:, : i + 1])
        if i < latent - 1:
            assert np.abs(m1[:, i + 1 :] - m0[:, i + 1 :]).max() > 0, (
                "later outputs must depend on z_i"
            )
    # the context reaches every output, including the first
    m2, _ = (t.numpy() for t in step.autoregressive_params(z, ctx + 1.0))
    assert np.all(np.abs(m2 - m0).max(axis=0) > 0)


def test_iaf_log_det_matches_numerical_jacobian(rng):
    latent = 6
    step = IAFStep(latent, 12, sigma_offset=0.3, dtype="float64", name="iaf64")
    z = rng.standard_normal((1, latent))
    ctx = rng.standard_normal((1, 4))
    step([z, ctx])
    for v in step.weights:
        v.assign(0.7 * rng.standard_normal(v.shape))
    z_new, log_det = step([z, ctx])
    h = 1e-6
    jac = np.zeros((latent, latent))
    for i in range(latent):
        dz = np.zeros_like(z)
        dz[0, i] = h
        plus = step([z + dz, ctx])[0].numpy()
        minus = step([z - dz, ctx])[0].numpy()
        jac[:, i] = (plus - minus)[0] / (2 * h)
    sign, logabs = np.linalg.slogdet(jac)
    assert sign != 0
    np.testing.assert_allclose(float(log_det.numpy()[0]), logabs, rtol=1e-6, atol=1e-6)
    # reversed output order: undo it and the Jacobian is lower triangular
    tri = jac[::-1]
    np.testing.assert_allclose(np.triu(tri, 1), 0.0, atol=1e-8)


def test_model_flow_log_det_matches_jacobian(tiny_model, rng):
    """Whole flow (all steps, context from the encoder) against autodiff's Jacobian."""
    x = tf.constant(_feats(rng, tiny_model.run_params, 3))
    conv_out, _ = tiny_model.encoder(x)
    z0 = tf.constant(rng.standard_normal((3, tiny_model.latent_dim)).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(z0)
        z, log_det = tiny_model.flow(z0, conv_out)
    jac = tape.batch_jacobian(z, z0).numpy().astype(np.float64)
    np.testing.assert_allclose(log_det.numpy(), np.linalg.slogdet(jac)[1], rtol=1e-4, atol=1e-4)


def test_masked_dense_checks_input_size():
    layer = MaskedDense(np.ones((3, 2)))
    with pytest.raises(ValueError, match="mask expects 3"):
        layer(np.zeros((1, 4), np.float32))


# ---- gradients and persistence of the flow ------------------------------------------------


def test_every_flow_weight_is_tracked_and_gets_a_gradient(tiny_model, rng):
    flow_vars = tiny_model.flow_variables()
    mp = tiny_model.run_params.model
    # per step: context dense (kernel, bias) + MADE (2 masked kernels + biases, context kernel)
    assert len(flow_vars) == 7 * mp.iaf_steps
    trainable = {id(v) for v in tiny_model.trainable_variables}
    assert all(id(v) in trainable for v in flow_vars)
    x = tf.constant(_feats(rng, tiny_model.run_params, 8))
    y = tf.constant(rng.integers(0, 4, 8).astype(np.int32))
    eps = tf.constant(rng.standard_normal((8, mp.latent_dim)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = tiny_model.total_loss(tiny_model.per_example_losses(x, y, eps, training=True))
    grads = tape.gradient(loss, flow_vars)
    for v, g in zip(flow_vars, grads, strict=True):
        assert g is not None, f"{v.path} gets no gradient"
        assert float(tf.norm(g)) > 0, f"{v.path} has a zero gradient"


def test_save_load_identity(tmp_path, rng):
    """A model directory loads to bit-identical embeddings, flow weights included."""
    params = tiny_run_params().replace(class_names=("a", "b", "c"))
    keras.utils.set_random_seed(3)
    model = build_model(params, n_classes=3)
    for v in model.weights:  # move every weight away from its initialisation
        v.assign(v.numpy() + 0.05 * rng.standard_normal(v.shape).astype(np.float32))
    md = ModelDir(tmp_path / "m")
    md.save_params(params)
    md.save_checkpoint(model, {"step": 7, "learning_rate": 1e-3})
    loaded = md.load_model()
    assert loaded.step == 7
    for a, b in zip(model.weights, loaded.weights, strict=True):
        assert a.path == b.path
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    x = _feats(rng, params, 20)
    assert np.array_equal(model.encode(x), loaded.encode(x))
    assert np.array_equal(model.predict_classes(x), loaded.predict_classes(x))
    z = rng.standard_normal((4, params.model.latent_dim)).astype(np.float32)
    assert np.array_equal(model.decode(z), loaded.decode(z))
    fp = md.weights_fingerprint()
    assert fp == md.weights_fingerprint() and len(fp) == 16


def test_decoder_start_writes_a_finer_grid():
    """``decoder_start`` = k: the dense layer writes stage k-1's grid and the first k
    up-sampling stages are left out; the output keeps the input's shape."""
    full = build_model(RunParams(), n_classes=0)
    assert [c.name for c in full.dec_convs] == ["dec_conv0", "dec_conv1", "dec_conv2", "dec_conv3"]
    one = build_model(RunParams(model=ModelParams(decoder_start=1)), n_classes=0)
    assert one.dec_shape == (15, 14, 32)
    assert one.dec_sizes == [(31, 30), (63, 61), (128, 125)]
    two = build_model(RunParams(model=ModelParams(decoder_start=2)), n_classes=0)
    assert two.dec_shape == (31, 30, 64) and two.dec_sizes == [(63, 61), (128, 125)]
    assert [c.name for c in two.dec_convs] == ["dec_conv2", "dec_conv3"]
    z = np.zeros((2, 64), np.float32)
    assert two.decode(z).shape == (2, 128, 125)
    with pytest.raises(ParameterError, match="decoder_start"):
        ModelParams(decoder_start=4)


def _loss_case(rng, **model_fields):
    """A tiny model with ``model_fields`` set, 4 feature clips, their labels and noise, and
    the decoder's logits for them computed step by step (float64): the reference that the
    reconstruction-loss tests check ``per_example_losses`` against."""
    base = tiny_run_params()
    params = base.replace(model=base.model.replace(**model_fields))
    model = build_model(params, n_classes=0)
    x = _feats(rng, params, 4)
    y = np.zeros(4, np.int32)
    eps = rng.standard_normal((4, params.model.latent_dim)).astype(np.float32)
    conv_out, hidden = model.encoder(x)
    z0 = model.dense_mu(hidden) + np.exp(0.5 * model.dense_log_var(hidden)) * eps
    logits = np.asarray(model.decoder_logits(model.flow(z0, conv_out)[0]), np.float64)
    return model, x, y, eps, logits


def test_loud_weight_weights_each_bin_by_its_level(rng):
    """The reconstruction term is sum((1 + loud_weight * x) * BCE(x, decoded)); 0 is the plain sum."""
    model, x, y, eps, logits = _loss_case(rng, loud_weight=3.0, cepstral_weight=0.0)
    got = np.asarray(model.per_example_losses(x, y, eps)["reconstruction"])
    bce = np.logaddexp(0.0, logits) - x * logits
    np.testing.assert_allclose(got, ((1 + 3.0 * x) * bce).sum(axis=(1, 2)), rtol=1e-4)
    model.loud_weight = 0.0
    plain = np.asarray(model.per_example_losses(x, y, eps)["reconstruction"])
    np.testing.assert_allclose(plain, bce.sum(axis=(1, 2)), rtol=1e-4)


def test_cepstral_weight_adds_the_squared_error_of_each_frames_cepstrum(rng):
    """The reconstruction term gains cepstral_weight * sum over frames of the squared error of
    the DCT (coefficients 1-19) over the mel axis between the features and the decoded ones."""
    from scipy.fft import dct

    model, x, y, eps, logits = _loss_case(rng, cepstral_weight=50.0)
    got = np.asarray(model.per_example_losses(x, y, eps)["reconstruction"], np.float64)
    bce = (np.logaddexp(0.0, logits) - x * logits).sum(axis=(1, 2))
    decoded = 1.0 / (1.0 + np.exp(-logits))
    n_cep = min(19, model.run_params.audio.n_mels - 1)
    cep = dct(decoded - x, axis=1, norm="ortho")[:, 1 : n_cep + 1]
    np.testing.assert_allclose(got, bce + 50.0 * (cep**2).sum(axis=(1, 2)), rtol=1e-4)
    assert np.all(got > bce)  # the term is there and positive
    with pytest.raises(ParameterError, match="cepstral_weight"):
        model.run_params.model.replace(cepstral_weight=-1.0)


def test_numpy_engine_follows_the_decoder_start(tmp_path, rng):
    """The CLI's numpy engine decodes a ``decoder_start`` model as Keras does."""
    from samplevae.inference import NumpyVAE

    base = tiny_run_params().replace(class_names=("a", "b"))
    params = base.replace(model=base.model.replace(decoder_start=1))
    model = build_model(params, n_classes=2)
    for v in model.weights:
        v.assign(v.numpy() + 0.05 * rng.standard_normal(v.shape).astype(np.float32))
    md = ModelDir(tmp_path / "m")
    md.save_params(params)
    md.save_checkpoint(model, {"step": 1, "learning_rate": 1e-3})
    z = rng.standard_normal((3, params.model.latent_dim)).astype(np.float32)
    np.testing.assert_allclose(NumpyVAE(md).decode(z), model.decode(z), atol=1e-5)


def test_non_finite_gradients_are_zeroed_not_written_into_the_weights(monkeypatch, rng, capfd):
    """A NaN gradient with a finite loss (seen in bfloat16 on CPU) leaves every weight as it
    was (a first step: no momentum yet), says so on stderr, and the step still counts; a
    finite step trains as before."""
    params = tiny_run_params().replace(class_names=("a", "b"))
    model = build_model(params, n_classes=2)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.optimizer.build(model.trainable_variables)
    x = _feats(rng, params, 4)
    y = np.array([0, 1, 0, 1], np.int32)
    before = [v.numpy().copy() for v in model.trainable_variables]
    real_gradient = tf.GradientTape.gradient

    def one_nan(self, target, sources, *a, **k):
        grads = real_gradient(self, target, sources, *a, **k)
        return [grads[0] * np.nan, *grads[1:]]

    monkeypatch.setattr(tf.GradientTape, "gradient", one_nan)
    logs = model.train_step((x, y))
    assert np.isfinite(float(logs["loss"]))
    for b, v in zip(before, model.trainable_variables, strict=True):
        np.testing.assert_array_equal(b, v.numpy())
    assert int(model.optimizer.iterations) == 1
    assert "non-finite gradients at step 1 - its gradients are zeroed" in capfd.readouterr().err
    monkeypatch.setattr(tf.GradientTape, "gradient", real_gradient)
    model.train_step((x, y))
    assert all(np.all(np.isfinite(v.numpy())) for v in model.trainable_variables)
    after = model.trainable_variables
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(before, after, strict=True))


def _zero_step_case(rng, params):
    """A model of ``params`` (4 classes) whose training step changes nothing (SGD at rate 0),
    6 feature clips, their labels, and the latent noise its next step will draw."""
    keras.utils.set_random_seed(0)
    model = build_model(params, n_classes=4)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0))
    x = tf.constant(_feats(rng, params, 6))
    y = tf.constant(np.arange(6) % 4, tf.int32)
    state = model.rng_state()
    eps = model._train_noise(6)  # the noise the step will draw
    model.set_rng_state(state)
    return model, x, y, eps, state


@pytest.mark.parametrize("target", ["augmented", "clean"])
def test_augment_target_is_what_a_training_step_reconstructs(rng, target):
    """train.augment_target: with "clean" the encoder sees the augmented clip and the
    reconstruction is scored against the clip before augmentation; with "augmented" (the
    default) against the augmented clip itself."""
    from samplevae.augment import augment_features

    base = tiny_run_params()
    params = base.replace(
        model=base.model.replace(dropout=0.0, classifier_dropout=0.0, decoder_dropout=0.0),
        train=base.train.replace(augment=True, augment_target=target),
    )
    model, x, y, eps, _ = _zero_step_case(rng, params)
    seed = tf.constant([params.train.seed, 0], tf.int32)  # the step's: (seed, step 0)
    x_aug = augment_features(x, seed, top_db=params.audio.top_db)
    assert not np.allclose(x_aug.numpy(), x.numpy())

    got = float(model.train_step((x, y))["reconstruction"])

    def reconstruction(scored_against):
        losses = model.per_example_losses(x_aug, y, eps, training=True, target=scored_against)
        return float(tf.reduce_mean(losses["reconstruction"]))

    expected, other = (x, x_aug) if target == "clean" else (x_aug, x)
    assert got == pytest.approx(reconstruction(expected), rel=1e-5)
    assert got != pytest.approx(reconstruction(other), rel=1e-3)


def _loss_of_the_same_step_with(model, params, state, x, y, **model_fields):
    """The loss of ``model``'s zero-rate training step on ``(x, y)`` (from RNG ``state``) for
    a copy of it whose ``ModelParams`` differ by ``model_fields``."""
    other = build_model(params.replace(model=params.model.replace(**model_fields)), 4)
    other.set_weights(model.get_weights())
    other.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0))
    other.set_rng_state(state)
    return float(other.train_step((x, y))["loss"])


def test_timbre_weight_adds_the_neighbour_term_of_the_clips_mfcc_statistics(rng):
    """model.timbre_weight: a training step's loss gains weight x timbre_loss between the
    clips' search embeddings and their MFCC statistics; without it the loss is the plain one."""
    from samplevae.contrastive import timbre_loss, timbre_statistics
    from samplevae.features import _dct_matrix

    base = tiny_run_params()
    params = base.replace(
        model=base.model.replace(
            dropout=0.0, classifier_dropout=0.0, decoder_dropout=0.0, timbre_weight=5.0
        )
    )
    model, x, y, eps, state = _zero_step_case(rng, params)
    logs = model.train_step((x, y))
    plain = model.per_example_losses(x, y, eps, training=True)
    stats = timbre_statistics(x, _dct_matrix(20, params.audio.n_mels))
    term = timbre_loss(model.embed(x), stats).numpy()
    assert term.min() > 0.0
    np.testing.assert_allclose(plain["timbre"].numpy(), term, rtol=1e-4, atol=1e-6)
    expected = np.mean(plain["reconstruction"] + plain["kl"] + plain["classifier"] + 5.0 * term)
    assert float(logs["loss"]) == pytest.approx(expected, rel=1e-5)
    off = _loss_of_the_same_step_with(model, params, state, x, y, timbre_weight=0.0)
    plain_loss = np.mean(plain["reconstruction"] + plain["kl"] + plain["classifier"])
    assert off == pytest.approx(float(plain_loss), rel=1e-5)


def test_invariance_weight_adds_the_view_term_of_an_augmentation_of_each_clip(rng):
    """model.invariance_weight: a training step's loss gains weight x view_loss between each
    clip's search embedding and that of another augmentation of it (seeds of their own, keyed
    to the step); validation scores one fixed augmentation, the same on every call."""
    from samplevae.augment import augment_features
    from samplevae.contrastive import view_loss

    base = tiny_run_params()
    params = base.replace(
        model=base.model.replace(
            dropout=0.0, classifier_dropout=0.0, decoder_dropout=0.0, invariance_weight=7.0
        )
    )
    model, x, y, eps, state = _zero_step_case(rng, params)
    view = augment_features(
        x, tf.constant([params.train.seed + 1, 0], tf.int32), top_db=params.audio.top_db
    )
    logs = model.train_step((x, y))
    plain = model.per_example_losses(x, y, eps, training=True)
    term = view_loss(model.embed(x), model.embed(view)).numpy()
    assert term.min() > 0.0
    expected = np.mean(plain["reconstruction"] + plain["kl"] + plain["classifier"] + 7.0 * term)
    assert float(logs["loss"]) == pytest.approx(expected, rel=1e-5)
    model.reset_metrics()
    first = float(model.test_step((x, y))["loss"])
    model.reset_metrics()
    assert float(model.test_step((x, y))["loss"]) == first
    # without the term the same step's loss is the plain one
    off = _loss_of_the_same_step_with(model, params, state, x, y, invariance_weight=0.0)
    plain_loss = np.mean(plain["reconstruction"] + plain["kl"] + plain["classifier"])
    assert off == pytest.approx(float(plain_loss), rel=1e-5)
