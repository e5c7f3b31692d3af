"""Training speed: float32 against mixed bfloat16, and our MADE-based IAF against the
original's per-dimension IAF loop.

Both models are the default architecture (128 x 125 input, 64-d latent, 5 flow steps,
9-class classifier), trained with Adam at batch 64 on random features, in the same process;
timing rounds alternate between the two so that background load hits both alike.

The reference reproduces the original's flow: per flow step a context layer and, for each
of the 64 latent dimensions j, its own network ``dense(64, ELU)(concat(context, z[:, :j]))
-> dense(2)`` giving (m_j, s_j) — 320 small networks in all. It exists here only.

    .venv/bin/python bench/train.py               # default architecture
    .venv/bin/python bench/train.py --quick       # tiny config, seconds (smoke test)

Each precision of ``--precisions`` (default float32 and mixed_bfloat16, the Keras policy
that ``samplevae train --precision`` sets) is the same model from the same seed; all variants
are timed in alternating rounds in this one process, so the ratios hold under background load
(the load average is printed before and after). A forward-only timing of each precision shows
how much of the step is the backward pass.

Prints steps/s of each, the ratios, flow-only forward+backward times, encode throughput
and peak resident memory.

    .venv/bin/python bench/train.py --no-reference --precisions float32,mixed_bfloat16
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from samplevae._cpu import use_onednn  # noqa: E402

use_onednn()  # before TensorFlow is imported, as `import samplevae` does (samplevae/_cpu.py)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from samplevae.model import SampleVAE, build_model  # noqa: E402
from samplevae.params import AudioParams, ModelParams, RunParams, TrainParams  # noqa: E402


class PerDimensionIAFStep(keras.layers.Layer):
    """The original's IAF step: one small network per latent dimension."""

    def __init__(self, latent_dim: int, units: int, sigma_offset: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        self.sigma_offset = sigma_offset
        self.hidden = [
            keras.layers.Dense(units, activation="elu", name=f"dim{j}_hidden")
            for j in range(latent_dim)
        ]
        self.params = [keras.layers.Dense(2, name=f"dim{j}_ms") for j in range(latent_dim)]

    def call(self, inputs):
        z, context = inputs
        ms = []
        for j in range(self.latent_dim):
            h = context if j == 0 else ops.concatenate([context, z[:, :j]], axis=-1)
            ms.append(self.params[j](self.hidden[j](h)))
        ms = ops.stack(ms, axis=1)  # [n, D, 2]
        m, s = ms[..., 0], ms[..., 1] + self.sigma_offset
        sigma = ops.sigmoid(s)
        z_new = sigma * z + (1.0 - sigma) * m
        return ops.flip(z_new, axis=-1), ops.sum(ops.log_sigmoid(s), axis=-1)


class ReferenceVAE(SampleVAE):
    """SampleVAE with the flow replaced by the per-dimension loop (everything else shared)."""

    def __init__(self, run_params: RunParams, n_classes: int = 0, **kwargs):
        steps = run_params.model.iaf_steps
        no_flow = run_params.replace(model=run_params.model.replace(iaf_steps=0))
        super().__init__(no_flow, n_classes=n_classes, **kwargs)
        # The base class's flow and flow_variables() run over these two lists.
        d = run_params.model.latent_dim
        self.flow_contexts = [
            keras.layers.Dense(d, activation="elu", name=f"ref_context{k}") for k in range(steps)
        ]
        self.flows = [
            PerDimensionIAFStep(d, 64, run_params.model.iaf_sigma_offset, name=f"ref_step{k}")
            for k in range(steps)
        ]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def make_trainer(model: SampleVAE, lr: float, eps: float):
    opt = keras.optimizers.Adam(learning_rate=lr, epsilon=eps)
    if model.precision == "mixed_float16":
        opt = keras.optimizers.LossScaleOptimizer(opt, initial_scale=16.0)
    model.compile(optimizer=opt)
    model.optimizer.build(model.trainable_variables)
    return tf.function(model.train_step)


def forward_only(model: SampleVAE, x, y):
    eps = tf.random.normal((x.shape[0], model.latent_dim))

    @tf.function
    def fn():
        return model.total_loss(model.per_example_losses(x, y, eps, training=True))

    return fn


def flow_fwd_bwd(model: SampleVAE, batch: int):
    d = model.latent_dim
    conv_units = int(np.prod(model.dec_shape))
    z0 = tf.random.normal((batch, d))
    conv = tf.random.normal((batch, conv_units))
    variables = model.flow_variables()

    @tf.function
    def fn():
        with tf.GradientTape() as tape:
            z, ld = model.flow(z0, conv)
            loss = tf.reduce_sum(z) + tf.reduce_sum(ld)
        return tape.gradient(loss, variables)

    return fn


def time_calls(fn, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        out = fn()
    tf.nest.map_structure(lambda x: x.numpy() if hasattr(x, "numpy") else x, out)
    return (time.perf_counter() - t) / n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5, help="training steps per timing round")
    ap.add_argument("--rounds", type=int, default=4, help="alternating timing rounds")
    ap.add_argument("--quick", action="store_true", help="tiny config (smoke test)")
    ap.add_argument("--no-reference", action="store_true", help="time our model only")
    ap.add_argument(
        "--precisions",
        default="float32,mixed_bfloat16",
        help="comma-separated training precisions of our model (float32, mixed_bfloat16, "
        "mixed_float16)",
    )
    args = ap.parse_args(argv)
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]

    if args.quick:
        params = RunParams(
            audio=AudioParams(sample_sec=0.5, n_mels=32, n_fft=512, hop_length=128),
            model=ModelParams(
                conv_channels=(8, 8),
                pool_sizes=((2, 2), (2, 2)),
                hidden_units=32,
                latent_dim=8,
                iaf_steps=2,
                classifier_units=(16,),
            ),
            train=TrainParams(batch_size=args.batch_size),
        )
        args.steps, args.rounds = 2, 2
    else:
        params = RunParams(train=TrainParams(batch_size=args.batch_size))
    n_classes = 9
    bs = args.batch_size
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((bs, *params.audio.shape), dtype=np.float32))
    y = tf.constant(rng.integers(0, n_classes, bs).astype(np.int32))
    tp = params.train
    gpus = tf.config.list_physical_devices("GPU")
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU(s), "
        f"{len(gpus)} GPU(s); input {params.audio.shape}, latent {params.model.latent_dim}, "
        f"{params.model.iaf_steps} flow steps, batch {bs}"
    )
    print(f"load average at start: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")

    rss0 = peak_rss_mb()
    variants, forwards, first_loss = {}, {}, {}
    for precision in precisions:
        keras.utils.set_random_seed(0)
        model = build_model(params, n_classes=n_classes, precision=precision)
        step_fn = make_trainer(model, tp.learning_rate, tp.adam_epsilon)
        t = time.perf_counter()
        first_loss[precision] = float(step_fn((x, y))["loss"])
        compile_s = time.perf_counter() - t
        step_fn((x, y))
        flow_fn = flow_fwd_bwd(model, bs)
        flow_fn()
        fwd = forward_only(model, x, y)
        fwd()
        n_flow = sum(int(np.prod(v.shape)) for v in model.flow_variables())
        print(
            f"{precision:15} built + first step (trace) {compile_s:.1f} s, first loss "
            f"{first_loss[precision]:.2f}, {len(model.flow_variables())} flow variables "
            f"({n_flow:,} weights)"
        )
        variants[precision] = (step_fn, flow_fn)
        forwards[precision] = fwd
        if precision == precisions[0]:
            ours = model
    rss_ours = peak_rss_mb()
    if not args.no_reference:
        keras.utils.set_random_seed(0)
        ref = ReferenceVAE(params, n_classes=n_classes, name="reference_vae")
        ref.build((None, *params.audio.shape))
        step_ref = make_trainer(ref, tp.learning_rate, tp.adam_epsilon)
        t = time.perf_counter()
        step_ref((x, y))
        compile_ref = time.perf_counter() - t
        step_ref((x, y))
        flow_ref = flow_fwd_bwd(ref, bs)
        flow_ref()
        n_flow_ref = sum(int(np.prod(v.shape)) for v in ref.flow_variables())
        print(
            f"{'reference':15} built + first step (trace) {compile_ref:.1f} s, "
            f"{len(ref.flow_variables())} flow variables ({n_flow_ref:,} weights)"
        )
        variants["reference"] = (step_ref, flow_ref)

    step_times = {k: [] for k in variants}
    flow_times = {k: [] for k in variants}
    fwd_times = {k: [] for k in forwards}
    for _ in range(args.rounds):
        for name, (train_fn, flow_fn) in variants.items():
            step_times[name].append(time_calls(lambda f=train_fn: f((x, y)), args.steps))
            flow_times[name].append(time_calls(flow_fn, max(args.steps, 5)))
            if name in forwards:
                fwd_times[name].append(time_calls(forwards[name], args.steps))

    print()
    print(f"{'':16}{'steps/s':>10}{'s/step':>10}{'forward s':>11}{'flow fwd+bwd ms':>18}")
    med = {k: statistics.median(v) for k, v in step_times.items()}
    fmed = {k: statistics.median(v) for k, v in flow_times.items()}
    wmed = {k: statistics.median(v) for k, v in fwd_times.items()}
    for name in variants:
        fwd = f"{wmed[name]:>11.3f}" if name in wmed else f"{'-':>11}"
        print(f"{name:16}{1 / med[name]:>10.3f}{med[name]:>10.3f}{fwd}{1000 * fmed[name]:>18.1f}")
    base = precisions[0]
    for precision in precisions[1:]:
        print(
            f"\n{precision} vs {base}: whole step {med[base] / med[precision]:.2f}x faster, "
            f"forward {wmed[base] / wmed[precision]:.2f}x; first loss "
            f"{first_loss[precision]:.2f} vs {first_loss[base]:.2f}"
        )
    if "reference" in variants:
        print(
            f"\nspeed-up over the reference, whole training step: {med['reference'] / med[base]:.2f}x"
        )
        print(f"speed-up, flow alone (fwd+bwd): {fmed['reference'] / fmed[base]:.1f}x")

    feats = rng.random((512, *params.audio.shape), dtype=np.float32)
    ours.encode(feats[:256])
    t = time.perf_counter()
    ours.encode(feats)
    enc = time.perf_counter() - t
    print(f"\nencode throughput ({base}): {len(feats) / enc:.0f} clips/s")
    print(
        f"peak RSS: {rss0:.0f} MB at start, {rss_ours:.0f} MB after our models trained, "
        f"{peak_rss_mb():.0f} MB at the end (all models)"
    )
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
