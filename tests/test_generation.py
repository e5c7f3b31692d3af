"""Generation a producer would keep: the latent sampler fitted to the training sounds (saved,
reloaded, reproducible, refitted on new weights, class-conditional), one-shot trimming, the
generate options and CLI, and the benchmark's Frechet distance."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from samplevae.demo import SMOKE_AUDIO as TINY_AUDIO
from samplevae.errors import ModelError, ParameterError
from samplevae.oneshot import trim_one_shot
from samplevae.sampler import LatentSampler, SamplerFileError

ROOT = Path(__file__).resolve().parents[1]
SR = 16000


def _load_bench(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path):
    """A private copy of the tiny model (without any sampler), so tests can write to it."""
    dst = tmp_path / "model"
    shutil.copytree(tiny_model_dir, dst, ignore=shutil.ignore_patterns("libraries", "sampler.npz"))
    return dst


@pytest.fixture(scope="module")
def tool(tiny_model_dir):
    from samplevae.tool import SoundSampleTool

    return SoundSampleTool(tiny_model_dir, progress=False, workers=1)


@pytest.fixture(scope="module")
def two_files_kit(kit_dir):
    return [str(kit_dir / "kick" / "kick_000.wav"), str(kit_dir / "snare" / "snare_000.wav")]


@pytest.fixture(scope="module")
def train_embeddings(tool, kit_dataset):
    """The tiny model's embeddings of its training files, by class."""
    X, y, _ = kit_dataset.load_features("train", progress=False, workers=1)
    emb = tool.model.encode(X)
    return {c: emb[y == i] for i, c in enumerate(kit_dataset.class_names)}


def _tool(path):
    from samplevae.tool import SoundSampleTool

    return SoundSampleTool(path, progress=False, workers=1)


# --- the sampler: fitted, saved, reloaded, reproducible ---------------------------------------


def test_sampler_is_fitted_lazily_saved_and_reloaded(model_copy, monkeypatch):
    t = _tool(model_copy)
    assert not t.sampler_path.exists()
    z = t.blend(seed=3)  # no files: the fitted prior, fitted now from the training dataset
    assert t.sampler_path.is_file()
    with np.load(t.sampler_path, allow_pickle=False) as data:  # plain arrays, no pickles
        assert data["means"].shape[1] == t.latent_dim
        assert str(data["fingerprint"]) == t.model_dir.weights_fingerprint()
    s = t.sampler()
    assert s.source == "dataset:kit" and s.class_names == t.class_names
    assert s.counts[0] == sum(s.counts[1:]) > 0
    assert not list(model_copy.glob("*.tmp")) and not list(model_copy.glob(".*.tmp"))

    # A new tool reads it back instead of refitting, and draws the same point.
    def no_fit(*a, **k):
        raise AssertionError("refitted although the saved sampler fits these weights")

    monkeypatch.setattr(LatentSampler, "fit", no_fit)
    t2 = _tool(model_copy)
    np.testing.assert_array_equal(t2.blend(seed=3), z)


def test_fitted_prior_is_reproducible_by_seed_and_normal_prior_is_the_original(tool):
    np.testing.assert_array_equal(tool.blend(seed=5), tool.blend(seed=5))
    assert not np.allclose(tool.blend(seed=5), tool.blend(seed=6))
    np.testing.assert_array_equal(tool.generate(seed=5), tool.generate(seed=5))
    z = tool.blend(seed=3, prior="normal")
    expected = np.random.default_rng(3).standard_normal(tool.latent_dim).astype(np.float32)
    np.testing.assert_allclose(z, expected)
    assert not np.allclose(tool.blend(seed=3), z)
    np.testing.assert_array_equal(
        tool.sampler().sample(4, seed=9), tool.sampler().sample(4, seed=9)
    )
    with pytest.raises(ParameterError, match="prior"):
        tool.blend(prior="uniform")


def test_fitted_prior_draws_where_the_training_sounds_are(tool, train_embeddings):
    emb = np.concatenate(list(train_embeddings.values()))
    draws = np.stack([tool.blend(seed=s) for s in range(400)])
    spread = emb.std(axis=0).mean()
    # The draws' mean and spread follow the embeddings', not N(0, I)'s.
    assert np.abs(draws.mean(axis=0) - emb.mean(axis=0)).max() < 0.35 * spread + 0.05
    np.testing.assert_allclose(draws.std(axis=0).mean(), spread, rtol=0.3)


def test_class_draws_land_nearest_their_class(tool, train_embeddings):
    centroids = {c: e.mean(axis=0) for c, e in train_embeddings.items()}
    for c in tool.class_names:
        draws = np.stack([tool.blend(seed=s, cls=c) for s in range(150)])
        centre = draws.mean(axis=0)
        sq = {o: float(np.sum((centre - m) ** 2)) for o, m in centroids.items()}
        assert min(sq, key=sq.get) == c, (c, sq)
    # generate(cls=...) decodes such a draw.
    audio = tool.generate(cls="snare", seed=1, trim=False)
    np.testing.assert_allclose(
        audio, tool.decode(tool.blend(seed=1, cls="snare"), seed=1), atol=1e-6
    )


def test_class_errors_are_clear(tool, two_files_kit):
    with pytest.raises(ParameterError, match="unknown class 'cowbell'.*kick.*snare"):
        tool.generate(cls="cowbell")
    with pytest.raises(ParameterError, match="audio_files"):
        tool.blend(two_files_kit, cls="kick")
    with pytest.raises(ParameterError, match="prior='fitted'"):
        tool.blend(cls="kick", prior="normal")


def test_model_without_classes_refuses_cls_but_generates(
    tmp_path_factory, kit_dir, workspace, tiny_params
):
    from samplevae.dataset import make_dataset
    from samplevae.training import train

    make_dataset(
        "gen_noclass",
        kit_dir / "snare",
        workspace=workspace,
        audio_params=tiny_params.audio,
        progress=False,
    )
    logdir = tmp_path_factory.mktemp("noclass") / "m"
    train(
        logdir,
        "gen_noclass",
        workspace=workspace,
        run_params=tiny_params,
        num_steps=2,
        progress=False,
    )
    t = _tool(logdir)
    with pytest.raises(ModelError, match="no classes"):
        t.generate(cls="snare")
    z = t.blend(seed=0)
    assert z.shape == (t.latent_dim,) and t.sampler().class_names == []


def test_sampler_is_refitted_when_the_weights_change(model_copy):
    t = _tool(model_copy)
    old = t.sampler()
    old_fp = old.fingerprint
    v = t.model.trainable_variables[0]
    v.assign(v + 0.05)
    t.model_dir.save_checkpoint(t.model, {"step": t.model_dir.step + 1})
    t2 = _tool(model_copy)
    new_fp = t2.model_dir.weights_fingerprint()
    assert new_fp != old_fp
    s = t2.sampler()
    assert s.fingerprint == new_fp
    assert LatentSampler.load(t2.sampler_path).fingerprint == new_fp
    assert not np.allclose(s.sample(5, seed=0), old.sample(5, seed=0))


def test_fit_sampler_on_files_and_refit_on_them(model_copy, kit_dir):
    t = _tool(model_copy)
    kicks = sorted(str(p) for p in (kit_dir / "kick").glob("*.wav"))
    s = t.fit_sampler(kicks, labels=["kick"] * len(kicks))
    assert s.source == "files" and s.files == kicks
    assert s.classes_with_components() == ["kick"]
    kick_emb = t.embed(kicks)
    draws = s.sample(300, seed=0)
    np.testing.assert_allclose(
        draws.mean(axis=0), kick_emb.mean(axis=0), atol=0.35 * kick_emb.std(axis=0).mean() + 0.05
    )
    with pytest.raises(ParameterError, match="no sounds of class 'snare'"):
        t.blend(cls="snare")
    # New weights: refitted on the same files, not on the dataset.
    v = t.model.trainable_variables[0]
    v.assign(v + 0.05)
    t.model_dir.save_checkpoint(t.model, {"step": t.model_dir.step + 1})
    s2 = _tool(model_copy).sampler()
    assert s2.source == "files" and s2.files == kicks and s2.fingerprint != s.fingerprint


def test_fit_sampler_labels_files_with_the_classifier(model_copy, kit_dir):
    t = _tool(model_copy)
    files = [str(kit_dir / c / f"{c}_00{i}.wav") for c in ("kick", "clap") for i in range(4)]
    s = t.fit_sampler(files)
    predicted = [t.predict(f)[1] for f in files]
    assert s.labels == predicted
    assert set(s.classes_with_components()) == set(predicted)


def test_missing_dataset_is_a_clear_error_naming_the_way_out(model_copy):
    from samplevae.modeldir import ModelDir

    md = ModelDir(model_copy)
    md.save_params(md.params.replace(dataset="gone_dataset"))
    t = _tool(model_copy)
    with pytest.raises(ModelError, match="gone_dataset.*fit_sampler"):
        t.generate(seed=0)
    assert t.generate(seed=0, prior="normal").size > 0  # the original prior still works


def test_damaged_sampler_file_is_refitted_with_a_warning(model_copy):
    t = _tool(model_copy)
    z = t.blend(seed=2)
    t.sampler_path.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(SamplerFileError, match="sampler.npz"):
        LatentSampler.load(t.sampler_path)
    t2 = _tool(model_copy)
    with pytest.warns(UserWarning, match="refitting"):
        z2 = t2.blend(seed=2)
    np.testing.assert_allclose(z2, z, atol=1e-5)  # the fit is deterministic
    LatentSampler.load(t2.sampler_path)


def test_sampler_fit_validates_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-4, 1, (60, 3)), rng.normal(4, 1, (60, 3))])
    labels = ["a"] * 60 + ["b"] * 60
    s = LatentSampler.fit(x, labels, class_names=["a", "b"], fingerprint="f" * 16)
    # Every sound has a class: the overall mixture is the class mixtures', never in between.
    draws = s.sample(500, seed=1)
    assert np.mean(np.abs(draws.mean(axis=1)) < 1.5) < 0.05
    assert abs(np.mean(draws[:, 0] > 0) - 0.5) < 0.1
    s.save(tmp_path / "s.npz")
    r = LatentSampler.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(r.sample(7, cls="b", seed=4), s.sample(7, cls="b", seed=4))
    assert r.fingerprint == "f" * 16 and r.class_names == ["a", "b"] and r.counts == [120, 60, 60]
    assert s.log_density(np.array([[-4, -4, -4.0]]), cls="a") > s.log_density(
        np.array([[-4, -4, -4.0]]), cls="b"
    )
    with pytest.raises(ParameterError, match="not among the classes"):
        LatentSampler.fit(x, ["c"] * 120, class_names=["a", "b"])
    with pytest.raises(ParameterError, match="NaN"):
        LatentSampler.fit(np.full((3, 2), np.nan))
    with pytest.raises(ParameterError):
        LatentSampler.fit(np.zeros((0, 2)))
    one = LatentSampler.fit(x[:1])  # a single sound: a small ball around it
    assert np.abs(one.sample(20, seed=0) - x[0]).max() < 1.0
    with pytest.raises(SamplerFileError, match="no such file"):
        LatentSampler.load(tmp_path / "missing.npz")


# --- one-shots --------------------------------------------------------------------------------


def _decaying_tone(seconds=2.0, tau=0.05, floor=1e-4, seed=0):
    t = np.arange(int(seconds * SR)) / SR
    y = np.sin(2 * np.pi * 220 * t) * np.exp(-t / tau)
    return (y + floor * np.random.default_rng(seed).standard_normal(t.size)).astype(np.float32)


def test_decaying_tone_comes_back_shorter_with_its_peak_intact():
    y = _decaying_tone()
    out = trim_one_shot(y, SR, peak=None)
    assert 0.1 * SR < out.size < 0.6 * SR  # ~50 dB of a 50 ms decay is ~0.3 s
    np.testing.assert_allclose(np.abs(out).max(), np.abs(y).max(), rtol=1e-6)
    np.testing.assert_array_equal(out[: SR // 10], y[: SR // 10])  # the attack is untouched
    assert abs(out[-1]) < 1e-6  # faded out: no click
    leveled = trim_one_shot(y, SR)
    assert leveled.size == out.size and np.isclose(np.abs(leveled).max(), 0.95)
    longer = trim_one_shot(_decaying_tone(tau=0.2), SR)
    assert longer.size > out.size  # a longer decay keeps a longer tail


def test_sustained_sound_is_kept_whole_and_silence_gives_a_short_silent_clip():
    noise = 0.3 * np.random.default_rng(1).standard_normal(SR).astype(np.float32)
    assert trim_one_shot(noise, SR).size == SR
    silent = trim_one_shot(np.zeros(2 * SR, dtype=np.float32), SR)
    assert silent.size == int(0.05 * SR) and not silent.any()
    assert trim_one_shot(np.zeros(0, dtype=np.float32), SR).size == 0
    with pytest.raises(ParameterError, match="NaN"):
        trim_one_shot(np.array([0.0, np.nan]), SR)
    with pytest.raises(ParameterError, match="peak"):
        trim_one_shot(noise, SR, peak=2.0)


def test_generate_trims_by_default_and_keeps_the_clip_on_request(tool, tmp_path):
    n = tool.audio_params.n_samples
    whole = tool.generate(seed=4, trim=False)
    assert whole.shape == (n,)
    one_shot = tool.generate(tmp_path / "g.wav", seed=4)
    assert 0 < one_shot.size <= n and np.isclose(np.abs(one_shot).max(), 0.95, atol=1e-3)
    np.testing.assert_allclose(
        one_shot, trim_one_shot(whole, tool.audio_params.sample_rate), atol=1e-6
    )
    data, _ = sf.read(tmp_path / "g.wav")
    assert data.shape == one_shot.shape


def test_interpolate_makes_one_shots_on_request(tool, two_files_kit):
    whole = tool.interpolate(*two_files_kit, steps=3)
    assert {w.size for w in whole} == {tool.audio_params.n_samples}
    shots = tool.interpolate(*two_files_kit, steps=3, trim=True)
    for w, s in zip(whole, shots, strict=True):
        np.testing.assert_allclose(s, trim_one_shot(w, tool.audio_params.sample_rate), atol=1e-6)


def test_silent_decode_gives_a_short_silent_clip_and_a_warning(model_copy, tmp_path, monkeypatch):
    t = _tool(model_copy)
    monkeypatch.setattr(
        t.model, "decode", lambda z, **k: np.zeros((len(z), *t.audio_params.shape), np.float32)
    )
    with pytest.warns(UserWarning, match="silent"):
        audio = t.generate(tmp_path / "s.wav", seed=0, prior="normal")
    assert 0 < audio.size < t.audio_params.n_samples and not audio.any()
    assert sf.read(tmp_path / "s.wav")[0].size == audio.size


# --- CLI --------------------------------------------------------------------------------------


def test_cli_generate_prior_class_and_no_trim(tiny_model_dir, tmp_path, capsys):
    from samplevae.cli import main

    m = str(tiny_model_dir)
    code = main(
        [
            "generate",
            "--logdir",
            m,
            "--out",
            str(tmp_path / "a.wav"),
            "--class",
            "snare",
            "--seed",
            "2",
            "--json",
            "--no-progress",
        ]
    )
    info = json.loads(capsys.readouterr().out)
    assert code == 0 and info["class"] == "snare" and info["prior"] == "fitted"
    assert sf.info(str(tmp_path / "a.wav")).frames <= TINY_AUDIO.n_samples
    code = main(
        [
            "generate",
            "--logdir",
            m,
            "--out",
            str(tmp_path / "b.wav"),
            "--prior",
            "normal",
            "--no-trim",
            "--texture-db",
            "0",
            "--no-progress",
        ]
    )
    assert code == 0 and "wrote" in capsys.readouterr().out
    assert sf.info(str(tmp_path / "b.wav")).frames == TINY_AUDIO.n_samples
    code = main(
        [
            "generate",
            "--logdir",
            m,
            "--out",
            str(tmp_path / "c.wav"),
            "--class",
            "cowbell",
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "cowbell" in err and "snare" in err
    assert not (tmp_path / "c.wav").exists()


# --- the benchmark's Frechet distance ---------------------------------------------------------


@pytest.fixture(scope="module")
def gen_bench():
    return _load_bench("generation")


def test_frechet_distance_of_identical_sets_is_zero(gen_bench):
    x = np.random.default_rng(0).standard_normal((500, 6))
    mu, cov = gen_bench.gaussian_fit(x)
    assert gen_bench.frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-6)
    mean, std = gen_bench.standardiser(x)
    assert gen_bench.fmd(x, x, mean, std) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_of_a_shifted_mean_is_the_squared_shift(gen_bench):
    cov = np.diag([1.0, 2.0, 0.5])
    shift = np.array([1.0, -2.0, 0.5])
    assert gen_bench.frechet_distance(np.zeros(3), cov, shift, cov) == pytest.approx(
        shift @ shift, rel=1e-9
    )


def test_frechet_distance_of_covariances(gen_bench):
    a, b = np.array([1.0, 4.0]), np.array([4.0, 1.0])
    # Diagonal covariances: sum of (sqrt(a) - sqrt(b))^2.
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert gen_bench.frechet_distance(
        np.zeros(2), np.diag(a), np.zeros(2), np.diag(b)
    ) == pytest.approx(expected, rel=1e-9)
    # Symmetric, and a singular covariance does not break it.
    c1 = np.array([[1.0, 0.9], [0.9, 1.0]])
    c2 = np.array([[1.0, 0.0], [0.0, 0.0]])
    d12 = gen_bench.frechet_distance(np.zeros(2), c1, np.ones(2), c2)
    d21 = gen_bench.frechet_distance(np.ones(2), c2, np.zeros(2), c1)
    assert np.isfinite(d12) and d12 == pytest.approx(d21, rel=1e-6)
    with pytest.raises(ParameterError):
        gen_bench.frechet_distance(np.zeros(2), c1, np.zeros(3), np.eye(3))


def test_fmd_features_are_80_numbers_and_tell_sounds_apart(gen_bench):
    from samplevae.synth import synth_hit

    kick = gen_bench.mfcc_stats(synth_hit("kick", seed=0), 44100)
    assert kick.shape == (80,) and np.all(np.isfinite(kick))
    short = gen_bench.mfcc_stats(_decaying_tone(seconds=0.3), SR)  # zero-padded to 2 s
    assert short.shape == (80,)
    kicks = np.stack([gen_bench.mfcc_stats(synth_hit("kick", seed=s), 44100) for s in range(12)])
    hats = np.stack(
        [gen_bench.mfcc_stats(synth_hit("hihat_closed", seed=s), 44100) for s in range(12)]
    )
    mean, std = gen_bench.standardiser(np.concatenate([kicks, hats]))
    same = gen_bench.fmd(kicks[:6], kicks[6:], mean, std)
    other = gen_bench.fmd(kicks[:6], hats[:6], mean, std)
    assert other > 3 * same


def test_bench_files_read_the_manifest_or_the_folders(gen_bench, tmp_path):
    from samplevae.synth import make_kit

    make_kit(tmp_path / "train", per_class=1, classes=("kick", "snare"))
    make_kit(tmp_path / "valid", per_class=2, seed=1, classes=("kick",))
    rows = gen_bench.bench_files(tmp_path)
    assert sorted((Path(p).parent.name, s) for p, _, s in rows) == [
        ("kick", "train"),
        ("kick", "valid"),
        ("kick", "valid"),
        ("snare", "train"),
    ]
    (tmp_path / "manifest.csv").write_text(
        "source,file,class,split\nx,valid/kick/kick_000.wav,kick,valid\n"
    )
    assert gen_bench.bench_files(tmp_path) == [
        (str(tmp_path / "valid/kick/kick_000.wav"), "kick", "valid")
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gen_bench.spread(list(range(10)), 3) == [0, 4, 9]


def test_generate_adds_texture_by_default_seeded_by_the_point(tool, two_files_kit):
    """generate() gives the decoder's spectrogram its texture (0 = the original's plain
    Griffin-Lim); without a seed a point always sounds the same, two points differ."""
    from samplevae.features import GENERATION_TEXTURE_DB, audio_from_features

    z = tool.blend(seed=3)
    spec = tool.model.decode(z[None])[0]
    got = tool.generate(audio_files=[z], trim=False, seed=5)
    want = audio_from_features(spec, tool.audio_params, seed=5, texture_db=GENERATION_TEXTURE_DB)
    np.testing.assert_allclose(got, want, atol=1e-6)
    plain = tool.generate(audio_files=[z], trim=False, seed=5, texture_db=0)
    np.testing.assert_allclose(plain, audio_from_features(spec, tool.audio_params, seed=5))
    a = tool.generate(audio_files=two_files_kit[:1], trim=False)
    np.testing.assert_array_equal(a, tool.generate(audio_files=two_files_kit[:1], trim=False))
    assert not np.allclose(a, tool.generate(audio_files=two_files_kit[1:], trim=False))
