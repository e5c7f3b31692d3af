"""SoundSampleTool: weight semantics, generation, similarity, classification, library cache,
segmentation, several tools per process, bad input, and the CLI."""

from __future__ import annotations

import json
import os
import shutil
import warnings

import numpy as np
import pytest
import soundfile as sf

from samplevae.errors import AudioLoadError, ModelError, ParameterError, SampleVAEError
from samplevae.synth import DRUM_CLASSES, synth_hit


@pytest.fixture(scope="module")
def library_dir(kit_dir, tmp_path_factory):
    """A copy of the kit as a library (tests below modify their own copies)."""
    out = tmp_path_factory.mktemp("library")
    for cls in DRUM_CLASSES:
        shutil.copytree(kit_dir / cls, out / cls)
    return out


@pytest.fixture(scope="module")
def tool(tiny_model_dir, library_dir):
    from samplevae.tool import SoundSampleTool

    return SoundSampleTool(tiny_model_dir, library_dir=library_dir, progress=False, workers=1)


@pytest.fixture(scope="module")
def two_files(kit_dir):
    return [str(kit_dir / "kick" / "kick_000.wav"), str(kit_dir / "snare" / "snare_000.wav")]


# --- weight semantics, checked on embeddings -------------------------------------------------


def test_blend_without_files_normal_prior_is_seeded_standard_normal(tool):
    z = tool.blend(seed=3, prior="normal")
    expected = np.random.default_rng(3).standard_normal(tool.latent_dim).astype(np.float32)
    np.testing.assert_allclose(z, expected)
    assert not np.allclose(tool.blend(seed=4, prior="normal"), z)


def _kept_norm(z, e, w):
    """``z`` rescaled to the |w|-weighted mean of the norms of the rows of ``e``."""
    w = np.abs(np.asarray(w, dtype=np.float64))
    return z * (w @ np.linalg.norm(e, axis=1) / w.sum()) / np.linalg.norm(z)


def test_blend_normalised_weights(tool, two_files):
    e = tool.embed(two_files)
    plain = (e[0] + 2 * e[1]) / 3
    np.testing.assert_allclose(
        tool.blend(two_files, [1, 2], keep_norm=False), plain, rtol=1e-5, atol=1e-6
    )
    # The default keeps the sum's direction and the inputs' mean distance from the centre.
    z = tool.blend(two_files, [1, 2])
    np.testing.assert_allclose(z, _kept_norm(plain, e, [1, 2]), rtol=1e-5, atol=1e-6)
    assert np.linalg.norm(z) > np.linalg.norm(plain)  # not pulled towards the centre


def test_blend_keeping_the_norm_leaves_single_inputs_as_they_are(tool, two_files):
    e = tool.embed(two_files)
    np.testing.assert_allclose(tool.blend(two_files, [1, 0]), e[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tool.blend([e[1], e[1]]), e[1], rtol=1e-5, atol=1e-6)
    # A sum at the origin has no direction to rescale: it stays there.
    np.testing.assert_allclose(tool.blend([e[0], -e[0]], [1, 1]), 0.0, atol=1e-6)
    # Negative weights extrapolate; the point keeps the |w|-weighted mean norm.
    z = tool.blend(two_files, [1.5, -0.5])
    np.testing.assert_allclose(
        z, _kept_norm(1.5 * e[0] - 0.5 * e[1], e, [1.5, -0.5]), rtol=1e-5, atol=1e-6
    )


def test_blend_wrong_weight_count_gives_equal_weights(tool, two_files):
    e = tool.embed(two_files)
    mean = e.mean(axis=0)
    np.testing.assert_allclose(
        tool.blend(two_files, [1, 2, 3], keep_norm=False), mean, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        tool.blend(two_files), _kept_norm(mean, e, [1, 1]), rtol=1e-5, atol=1e-6
    )


def test_blend_zero_sum_with_normalisation_warns_and_uses_equal_weights(tool, two_files):
    e = tool.embed(two_files)
    with pytest.warns(UserWarning, match="sum to 0"):
        z = tool.blend(two_files, [1, -1], keep_norm=False)
    np.testing.assert_allclose(z, e.mean(axis=0), rtol=1e-5, atol=1e-6)


def test_blend_negative_weights_without_normalisation(tool, two_files):
    e = tool.embed(two_files)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z = tool.blend(two_files, [1, -1], normalize_weights=False)
    # Without normalisation the blend is latent arithmetic: the plain sum, unless asked.
    np.testing.assert_allclose(z, e[0] - e[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        tool.blend(two_files, [1, -1], normalize_weights=False, keep_norm=True),
        _kept_norm(e[0] - e[1], e, [1, -1]),
        rtol=1e-5,
        atol=1e-6,
    )


def test_variance_adds_gaussian_noise_of_that_scale(tool, two_files):
    base = tool.blend(two_files)
    noisy = np.stack([tool.blend(two_files, variance=0.5, seed=s) for s in range(200)])
    diffs = noisy - base
    assert abs(diffs.std() - 0.5) < 0.05
    assert abs(diffs.mean()) < 0.05
    with pytest.raises(ParameterError):
        tool.blend(two_files, variance=-1)


def test_inputs_may_be_paths_audio_or_embeddings(tool, two_files):
    from samplevae.audio import load_audio

    e = tool.embed(two_files)
    audio = load_audio(two_files[0], tool.audio_params)
    np.testing.assert_allclose(tool.embed(audio), e[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        tool.blend([e[0], two_files[1]], [1, 1], keep_norm=False),
        e.mean(axis=0),
        rtol=1e-5,
        atol=1e-6,
    )


# --- generation ---------------------------------------------------------------------------


def test_generate_writes_wav_of_clip_length(tool, two_files, tmp_path):
    out = tmp_path / "gen.wav"
    audio = tool.generate(out_file=out, audio_files=two_files, weigths=[1, 2], trim=False)
    assert audio.shape == (tool.audio_params.n_samples,)
    assert np.all(np.isfinite(audio)) and np.abs(audio).max() > 0.1
    data, sr = sf.read(out)
    assert sr == tool.audio_params.sample_rate
    assert data.shape == (tool.audio_params.n_samples,)
    # The default is a one-shot: at most the clip, ending where the sound has decayed.
    one_shot = tool.generate(out_file=out, audio_files=two_files, weigths=[1, 2])
    assert 0 < one_shot.size <= tool.audio_params.n_samples
    assert sf.read(out)[0].shape == one_shot.shape


def test_generate_without_out_file_writes_nothing(tool, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    audio = tool.generate(seed=0)
    assert 0 < audio.size <= tool.audio_params.n_samples
    assert list(tmp_path.iterdir()) == []
    np.testing.assert_array_equal(audio, tool.generate(seed=0))


def test_interpolate_ends_match_the_inputs_and_never_overwrites(tool, two_files, tmp_path):
    sounds = tool.interpolate(*two_files, steps=3, out_dir=tmp_path)
    assert len(sounds) == 3 and all(s.shape == (tool.audio_params.n_samples,) for s in sounds)
    np.testing.assert_allclose(sounds[0], tool.decode(tool.embed(two_files[0])), atol=1e-4)
    # the middle is the 1:1 blend, keeping the norm as blend() does, or the plain mean
    np.testing.assert_allclose(sounds[1], tool.decode(tool.blend(two_files)), atol=1e-4)
    straight = tool.interpolate(*two_files, steps=3, keep_norm=False)
    np.testing.assert_allclose(
        straight[1], tool.decode(tool.blend(two_files, keep_norm=False)), atol=1e-4
    )
    assert not np.allclose(straight[1], sounds[1], atol=1e-4)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"interp_{i:02d}.wav" for i in range(3)]
    with pytest.raises(FileExistsError):
        tool.interpolate(*two_files, steps=3, out_dir=tmp_path)


# --- similarity ---------------------------------------------------------------------------


def test_find_similar_finds_own_copy_first(tool, library_dir, tmp_path):
    target = tmp_path / "outside.wav"
    shutil.copy(library_dir / "clap" / "clap_003.wav", target)
    files, onsets, distances = tool.find_similar(str(target), num_similar=5, display=False)
    assert files[0] == str(library_dir / "clap" / "clap_003.wav")
    assert distances[0] < 1e-4
    assert distances == sorted(distances) and onsets == [0.0] * 5


def test_find_similar_exclude_self_and_ids(tool, library_dir):
    target = str(library_dir / "kick" / "kick_001.wav")
    res = tool.find_similar(target, num_similar=3, display=False, exclude_self=True)
    assert target not in res.files
    assert [tool.library.paths[i] for i in res.ids] == res.files


def test_find_similar_prefers_the_same_class(tool, library_dir):
    hits = total = 0
    for cls in DRUM_CLASSES:
        for i in range(3):
            res = tool.find_similar(
                str(library_dir / cls / f"{cls}_{i:03d}.wav"),
                num_similar=5,
                display=False,
                exclude_self=True,
            )
            hits += sum(os.path.basename(os.path.dirname(f)) == cls for f in res.files)
            total += len(res.files)
    assert hits / total > 2 / len(DRUM_CLASSES)  # chance is 1/9


@pytest.mark.parametrize("space, share", [("joint", 0.5), ("mfcc", 0.0)])
def test_find_similar_in_the_joint_and_mfcc_spaces(tool, library_dir, tmp_path, space, share):
    """space="joint": latent + MFCC statistics, standardised over the library; "mfcc": the
    statistics alone. A file outside the library (its vectors computed) finds its own copy
    first, as the library's entry does (its vectors stored); the ranking is that space's."""
    from samplevae.search import JointSpace

    lib = tool.library
    assert lib.timbre.shape == (len(lib), 80) and np.all(np.isfinite(lib.timbre))
    inside = str(library_dir / "tom_low" / "tom_low_002.wav")
    outside = tmp_path / "outside.wav"
    shutil.copy(inside, outside)
    for target in (inside, str(outside)):
        res = tool.find_similar(target, num_similar=6, display=False, space=space)
        assert res.files[0] == inside and res.distances[0] < 1e-3
        assert res.distances == sorted(res.distances)
    # the same neighbours as brute force in that space, fitted on the library
    blocks = [lib.embeddings, lib.timbre]
    z = JointSpace([share, 1 - share]).fit(blocks).transform(blocks)
    me = lib.entries_of(inside)[0]
    d = np.sqrt(((z - z[me]) ** 2).sum(axis=1))
    d[me] = np.inf
    res = tool.find_similar(inside, num_similar=5, display=False, space=space, exclude_self=True)
    np.testing.assert_array_equal(res.ids, np.argsort(d, kind="stable")[:5])
    np.testing.assert_allclose(res.distances, np.sort(d)[:5], rtol=1e-4)
    latent = tool.find_similar(inside, num_similar=5, display=False, exclude_self=True)
    assert latent.distances != res.distances
    with pytest.raises(ParameterError, match="embedding"):
        tool.find_similar(tool.embed(inside), space=space, display=False)
    with pytest.raises(ParameterError, match="space"):
        tool.find_similar(inside, space="cosine", display=False)


def test_find_similar_prints_when_asked(tool, library_dir, capsys):
    tool.find_similar(str(library_dir / "rim" / "rim_000.wav"), num_similar=2)
    assert "distance" in capsys.readouterr().out


# --- classification -----------------------------------------------------------------------


def test_predict_returns_probabilities_and_a_class(tool, kit_dir):
    probs, name = tool.predict(str(kit_dir / "kick" / "kick_005.wav"))
    assert probs.shape == (len(DRUM_CLASSES),) and np.isclose(probs.sum(), 1.0, atol=1e-5)
    assert tool.class_names == sorted(DRUM_CLASSES)
    assert name == tool.class_names[int(np.argmax(probs))]


def test_predict_without_classifier_is_a_clear_error(tmp_path, kit_dir, workspace, tiny_params):
    from samplevae.dataset import make_dataset
    from samplevae.tool import SoundSampleTool
    from samplevae.training import train

    make_dataset(
        "noclass",
        kit_dir / "kick",
        workspace=workspace,
        audio_params=tiny_params.audio,
        progress=False,
    )
    train(
        tmp_path / "m",
        "noclass",
        workspace=workspace,
        run_params=tiny_params,
        num_steps=2,
        progress=False,
    )
    t = SoundSampleTool(tmp_path / "m", progress=False)
    assert t.class_names == []
    with pytest.raises(ModelError, match="no classifier"):
        t.predict(str(kit_dir / "kick" / "kick_000.wav"))


# --- library cache, incremental update, bad input --------------------------------------------


def test_library_cache_reuse_and_incremental_update(tiny_model_dir, kit_dir, tmp_path):
    from samplevae.tool import SoundSampleTool

    lib = tmp_path / "lib"
    for cls in ("kick", "snare"):
        shutil.copytree(kit_dir / cls, lib / cls)
    t1 = SoundSampleTool(tiny_model_dir, library_dir=lib, progress=False, workers=1)
    n = len(t1.library)
    assert t1.library.stats.computed == n == 24
    t2 = SoundSampleTool(tiny_model_dir, library_dir=lib, progress=False, workers=1)
    assert (t2.library.stats.computed, t2.library.stats.reused) == (0, n)
    np.testing.assert_array_equal(t2.library.embeddings, t1.library.embeddings)

    (lib / "snare" / "snare_000.wav").unlink()
    sf.write(lib / "kick" / "kick_new.wav", synth_hit("rim", seed=9), 44100)
    changed = lib / "kick" / "kick_001.wav"
    sf.write(changed, synth_hit("clap", seed=5), 44100)
    t3 = SoundSampleTool(tiny_model_dir, library_dir=lib, progress=False, workers=1)
    s = t3.library.stats
    assert (s.computed, s.removed, s.reused) == (2, 1, n - 2)
    assert len(t3.library) == n
    assert str(lib / "snare" / "snare_000.wav") not in t3.library.paths
    fresh = t3.embed(str(changed))
    np.testing.assert_allclose(
        t3.library.embeddings[t3.library.paths.index(str(changed))], fresh, rtol=1e-5, atol=1e-5
    )
    assert not list((tiny_model_dir / "libraries").glob("*.tmp"))


def test_library_reports_bad_files_and_keeps_going(tiny_model_dir, kit_dir, tmp_path):
    from samplevae.tool import SoundSampleTool

    lib = tmp_path / "lib"
    shutil.copytree(kit_dir / "rim", lib / "rim")
    (lib / "rim" / "broken.wav").write_text("not audio")
    (lib / "rim" / "empty.wav").write_bytes(b"")
    t = SoundSampleTool(tiny_model_dir, library_dir=lib, progress=False, workers=1)
    reasons = dict(t.library.skipped)
    assert set(reasons) == {str(lib / "rim" / "broken.wav"), str(lib / "rim" / "empty.wav")}
    assert "empty" in reasons[str(lib / "rim" / "empty.wav")]
    assert len(t.library) == 12 and str(lib / "rim" / "broken.wav") not in t.library.paths
    # The failures are cached too: re-opening computes nothing and reports them again.
    t2 = SoundSampleTool(tiny_model_dir, library_dir=lib, progress=False, workers=1)
    assert t2.library.stats.computed == 0 and dict(t2.library.skipped) == reasons


def test_missing_library_and_no_library_are_clear_errors(tiny_model_dir, tmp_path, kit_dir):
    from samplevae.tool import SoundSampleTool

    with pytest.raises(SampleVAEError, match="does not exist"):
        SoundSampleTool(tiny_model_dir, library_dir=tmp_path / "nope", progress=False)
    t = SoundSampleTool(tiny_model_dir, progress=False)
    with pytest.raises(ModelError, match="no sample library"):
        t.find_similar(str(kit_dir / "kick" / "kick_000.wav"))


def test_bad_target_names_the_file(tool, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_text("hello")
    with pytest.raises(AudioLoadError, match="bad.wav"):
        tool.predict(str(bad))
    with pytest.raises(ParameterError):
        tool.embed(np.zeros((3, 3, 3)))


def test_missing_model_dir_is_a_clear_error(tmp_path):
    from samplevae.tool import SoundSampleTool

    with pytest.raises(ModelError):
        SoundSampleTool(tmp_path / "no_model")


# --- segmentation -----------------------------------------------------------------------


def test_library_segmentation_gives_one_entry_per_hit(tiny_model_dir, tmp_path):
    from samplevae.tool import SoundSampleTool

    sr = 44100
    onsets = [0.0, 0.8, 1.7, 2.5]
    track = np.zeros(int(3.5 * sr), dtype=np.float32)
    for o, cls in zip(onsets, ("kick", "snare", "kick", "clap"), strict=True):
        hit = synth_hit(cls, seed=int(o * 10))[: int(0.7 * sr)]
        start = int(o * sr)
        track[start : start + hit.size] += hit
    lib = tmp_path / "lib"
    lib.mkdir()
    sf.write(lib / "loop.wav", track, sr)
    t = SoundSampleTool(
        tiny_model_dir, library_dir=lib, library_segmentation=True, progress=False, workers=1
    )
    assert len(t.library) == len(onsets)
    np.testing.assert_allclose(t.library.onsets, onsets, atol=0.03)
    plain = SoundSampleTool(tiny_model_dir, library_dir=lib, progress=False, workers=1)
    assert len(plain.library) == 1


# --- several tools in one process -------------------------------------------------------


def test_two_tools_side_by_side(tiny_model_dir, tmp_path, kit_dir, workspace, kit_dataset):
    from samplevae.demo import smoke_run_params
    from samplevae.params import ModelParams
    from samplevae.tool import SoundSampleTool
    from samplevae.training import train

    rp = smoke_run_params()
    rp = rp.replace(
        model=ModelParams(
            **{
                **rp.model.to_dict(),
                "latent_dim": 4,
                "conv_channels": (8, 8),
                "pool_sizes": ((2, 2), (2, 2)),
                "classifier_units": (16,),
            }
        )
    )
    train(
        tmp_path / "other",
        kit_dataset.name,
        workspace=workspace,
        run_params=rp,
        num_steps=3,
        progress=False,
    )
    a = SoundSampleTool(tiny_model_dir, progress=False)
    b = SoundSampleTool(tmp_path / "other", progress=False)
    f = str(kit_dir / "tom_low" / "tom_low_000.wav")
    ea, eb = a.embed(f), b.embed(f)
    assert ea.shape == (8,) and eb.shape == (4,)
    np.testing.assert_array_equal(a.embed(f), ea)
    np.testing.assert_array_equal(SoundSampleTool(tiny_model_dir, progress=False).embed(f), ea)
    assert a.generate(seed=1, trim=False).shape == b.generate(seed=1, trim=False).shape


# --- CLI --------------------------------------------------------------------------------


def _cli(capsys, *argv):
    from samplevae.cli import main

    code = main(list(argv))
    out = capsys.readouterr().out
    return code, out


def test_cli_library_generate_similar_predict(
    tiny_model_dir, tool, library_dir, kit_dir, tmp_path, capsys
):
    m = str(tiny_model_dir)
    code, out = _cli(
        capsys,
        "library",
        "info",
        "--logdir",
        m,
        "--library",
        str(library_dir),
        "--json",
        "--no-progress",
        "--workers",
        "1",
    )
    assert code == 0 and json.loads(out)["entries"] == len(DRUM_CLASSES) * 12

    wav = tmp_path / "g.wav"
    kick, snare = str(kit_dir / "kick" / "kick_000.wav"), str(kit_dir / "snare" / "snare_000.wav")
    code, out = _cli(
        capsys,
        "generate",
        "--logdir",
        m,
        "--out",
        str(wav),
        "--files",
        kick,
        snare,
        "--weights",
        "1",
        "2",
        "--no-progress",
    )
    assert code == 0 and wav.is_file() and "wrote" in out
    code, out = _cli(capsys, "generate", "--logdir", m, "--out", str(wav), "--no-progress")
    assert code == 1 and "exists" in out
    # --linear: the original's plain weighted sum, another point than the default blend's
    blend = ["generate", "--logdir", m, "--files", kick, snare, "--seed", "5", "--no-progress"]
    kept, plain = tmp_path / "kept.wav", tmp_path / "plain.wav"
    assert _cli(capsys, *blend, "--out", str(kept))[0] == 0
    assert _cli(capsys, *blend, "--out", str(plain), "--linear")[0] == 0
    assert not np.allclose(sf.read(kept)[0], sf.read(plain)[0], atol=1e-3)

    similar = ["similar", "--logdir", m, "--library", str(library_dir), kick, "-n", "3"]
    code, out = _cli(capsys, *similar, "--json", "--no-progress", "--workers", "1")
    rows = json.loads(out)
    assert code == 0 and rows[0]["file"] == str(library_dir / "kick" / "kick_000.wav")
    # its own copy, at distance ~0: the library was cached by the `tool` fixture, which may
    # compute in bfloat16 (precision="auto"), and the command line's engine is float32
    limit = 1e-4 if tool.precision == "float32" else 0.05 * rows[1]["distance"]
    assert len(rows) == 3 and rows[0]["distance"] < limit
    code, out = _cli(capsys, *similar, "--space", "joint", "--exclude-self", "--json")
    joint = json.loads(out)
    want = tool.find_similar(kick, 3, display=False, space="joint", exclude_self=True)
    assert code == 0 and [r["file"] for r in joint] == want.files

    code, out = _cli(capsys, "predict", "--logdir", m, kick, snare, "--json", "--no-progress")
    rows = json.loads(out)
    assert code == 0 and [set(r["probabilities"]) for r in rows] == [set(DRUM_CLASSES)] * 2
    code, out = _cli(capsys, "predict", "--logdir", m, kick, "--no-progress")
    assert code == 0 and out.startswith(kick)


def test_tool_and_cli_use_the_best_checkpoint_unless_told_last(
    tiny_model_dir, kit_dir, tmp_path, capsys
):
    import keras

    from samplevae.modeldir import ModelDir
    from samplevae.tool import SoundSampleTool

    # a run whose newest checkpoint (a worse validation) is not its best
    d = tmp_path / "m"
    shutil.copytree(tiny_model_dir, d)
    md = ModelDir(d)
    best_step = md.train_state()["best"]["step"]
    assert (md.checkpoints_dir / f"step-{best_step:08d}").is_dir()  # training kept it
    model = md.load_model()
    model.compile(optimizer=keras.optimizers.Adam())
    model.set_weights([w * 0.5 for w in model.get_weights()])
    md.save_checkpoint(model, {"step": 999, "best": md.train_state()["best"]})
    kick = str(kit_dir / "kick" / "kick_000.wav")

    best = SoundSampleTool(d, progress=False)
    last = SoundSampleTool(d, progress=False, checkpoint="last")
    original = SoundSampleTool(tiny_model_dir, progress=False, checkpoint="best")
    assert best.model.step == best_step and last.model.step == 999
    np.testing.assert_allclose(best.embed(kick), original.embed(kick), atol=1e-5)
    assert not np.allclose(best.embed(kick), last.embed(kick), atol=1e-3)

    runs = {}
    for which in ("best", "last"):
        code, out = _cli(
            capsys, "predict", "--logdir", str(d), kick, "--json", "--checkpoint", which
        )
        assert code == 0
        runs[which] = json.loads(out)[0]["probabilities"]
    best32 = SoundSampleTool(d, progress=False, precision="float32")  # as the CLI's engine
    expected = dict(zip(best32.class_names, best32.predict(kick)[0], strict=True))
    assert runs["best"] == pytest.approx(expected, abs=1e-4)
    assert runs["best"] != pytest.approx(runs["last"], abs=1e-4)


def test_precision_auto_follows_the_hardware_and_bfloat16_embeds_nearly_as_float32(
    tiny_model_dir, kit_dir, tmp_path
):
    from samplevae.modeldir import ModelDir
    from samplevae.tool import SoundSampleTool
    from samplevae.training import effective_precision

    # the tiny model's params ask for float32 (faster at that size): "auto" follows them
    auto = SoundSampleTool(tiny_model_dir, progress=False)
    assert auto.model_dir.params.train.precision == "float32"
    assert auto.precision == "float32" == auto.model.precision
    # a model trained at "auto" computes as the hardware allows
    d = tmp_path / "auto_model"
    shutil.copytree(tiny_model_dir, d)
    md = ModelDir(d)
    md.save_params(md.params.replace(train=md.params.train.replace(precision="auto")))
    hw = SoundSampleTool(d, progress=False)
    assert hw.precision == effective_precision("auto") == hw.model.precision
    f32 = SoundSampleTool(tiny_model_dir, progress=False, precision="float32")
    bf16 = SoundSampleTool(tiny_model_dir, progress=False, precision="mixed_bfloat16")
    assert (f32.precision, bf16.precision) == ("float32", "mixed_bfloat16")
    files = [str(p) for p in sorted((kit_dir / "snare").glob("*.wav"))[:8]]
    a, b = f32.embed(files), bf16.embed(files)
    assert a.dtype == b.dtype == np.float32 and not np.array_equal(a, b)
    assert np.linalg.norm(a - b) / np.linalg.norm(a) < 0.02
    np.testing.assert_allclose(f32.predict(files[0])[0], bf16.predict(files[0])[0], atol=0.05)
    with pytest.raises(ParameterError, match="precision must be one of auto, float32"):
        SoundSampleTool(tiny_model_dir, progress=False, precision="float64")
