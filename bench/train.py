"""Training speed: our MADE-based IAF against the original's per-dimension IAF loop.

Both models are the default architecture (128 x 125 input, 64-d latent, 5 flow steps,
9-class classifier), trained with Adam at batch 64 on random features, in the same process;
timing rounds alternate between the two so that background load hits both alike.

The reference reproduces the original's flow: per flow step a context layer and, for each
of the 64 latent dimensions j, its own network ``dense(64, ELU)(concat(context, z[:, :j]))
-> dense(2)`` giving (m_j, s_j) — 320 small networks in all. It exists here only.

    .venv/bin/python bench/train.py               # default architecture
    .venv/bin/python bench/train.py --quick       # tiny config, seconds (smoke test)

Prints steps/s of each, the ratio, flow-only forward+backward times, encode throughput
and peak resident memory.
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
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr, epsilon=eps))
    model.optimizer.build(model.trainable_variables)
    return tf.function(model.train_step)


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
    args = ap.parse_args(argv)

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
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU(s); "
        f"input {params.audio.shape}, latent {params.model.latent_dim}, {params.model.iaf_steps} flow "
        f"steps, batch {bs}"
    )

    rss0 = peak_rss_mb()
    keras.utils.set_random_seed(0)
    ours = build_model(params, n_classes=n_classes)
    step_ours = make_trainer(ours, tp.learning_rate, tp.adam_epsilon)
    t = time.perf_counter()
    step_ours((x, y))
    compile_ours = time.perf_counter() - t
    step_ours((x, y))
    rss_ours = peak_rss_mb()
    flow_ours = flow_fwd_bwd(ours, bs)
    flow_ours()
    n_flow_ours = sum(int(np.prod(v.shape)) for v in ours.flow_variables())
    print(
        f"ours:      built + first step (trace) {compile_ours:.1f} s, {len(ours.flow_variables())} flow "
        f"variables ({n_flow_ours:,} weights)"
    )

    variants = {"ours": (step_ours, flow_ours)}
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
            f"reference: built + first step (trace) {compile_ref:.1f} s, {len(ref.flow_variables())} flow "
            f"variables ({n_flow_ref:,} weights)"
        )
        variants["reference"] = (step_ref, flow_ref)

    step_times = {k: [] for k in variants}
    flow_times = {k: [] for k in variants}
    for _ in range(args.rounds):
        for name, (train_fn, flow_fn) in variants.items():
            step_times[name].append(time_calls(lambda f=train_fn: f((x, y)), args.steps))
            flow_times[name].append(time_calls(flow_fn, max(args.steps, 5)))

    print()
    print(f"{'':12}{'steps/s':>10}{'s/step':>10}{'flow fwd+bwd ms':>18}")
    med = {k: statistics.median(v) for k, v in step_times.items()}
    fmed = {k: statistics.median(v) for k, v in flow_times.items()}
    for name in variants:
        print(f"{name:12}{1 / med[name]:>10.3f}{med[name]:>10.3f}{1000 * fmed[name]:>18.1f}")
    if "reference" in variants:
        print(f"\nspeed-up, whole training step: {med['reference'] / med['ours']:.2f}x")
        print(f"speed-up, flow alone (fwd+bwd): {fmed['reference'] / fmed['ours']:.1f}x")

    feats = rng.random((512, *params.audio.shape), dtype=np.float32)
    ours.encode(feats[:256])
    t = time.perf_counter()
    ours.encode(feats)
    enc = time.perf_counter() - t
    print(f"\nencode throughput (ours): {len(feats) / enc:.0f} clips/s")
    print(
        f"peak RSS: {rss0:.0f} MB at start, {rss_ours:.0f} MB after our model trained, "
        f"{peak_rss_mb():.0f} MB at the end (both models)"
    )
    print(f"load average: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
