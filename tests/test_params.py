"""Parameters: validation with helpful messages, JSON round trip, shapes derived from params."""

from __future__ import annotations

import json
import math

import pytest

from samplevae.errors import ParameterError
from samplevae.params import (
    AudioParams,
    ModelParams,
    RunParams,
    SegmentParams,
    TrainParams,
    params_hash,
)

# --- validation -----------------------------------------------------------------------------

# (class, field, bad value, words the message must contain)
BAD_VALUES = [
    (AudioParams, "sample_rate", 500, "sample_rate"),
    (AudioParams, "sample_rate", 16000.0, "sample_rate"),
    (AudioParams, "sample_rate", True, "sample_rate"),
    (AudioParams, "sample_rate", "16000", "sample_rate"),
    (AudioParams, "sample_sec", 0.0, "sample_sec"),
    (AudioParams, "sample_sec", -1.0, "sample_sec"),
    (AudioParams, "sample_sec", math.nan, "sample_sec"),
    (AudioParams, "sample_sec", "2", "sample_sec"),
    (AudioParams, "n_fft", 8, "n_fft"),
    (AudioParams, "n_fft", 1024.0, "n_fft"),
    (AudioParams, "hop_length", 0, "hop_length"),
    (AudioParams, "hop_length", 2048, "hop_length"),
    (AudioParams, "n_mels", 2, "n_mels"),
    (AudioParams, "n_mels", 1000, "n_mels"),
    (AudioParams, "fmin", -10.0, "fmin"),
    (AudioParams, "fmin", "0", "fmin"),
    (AudioParams, "fmin", 9000.0, "fmin"),
    (AudioParams, "fmax", 9000.0, "fmax"),
    (AudioParams, "fmax", "8000", "fmax"),
    (AudioParams, "top_db", 0.0, "top_db"),
    (AudioParams, "top_db", math.inf, "top_db"),
    (AudioParams, "top_db", math.nan, "top_db"),
    (AudioParams, "griffin_lim_iters", 0, "griffin_lim_iters"),
    (ModelParams, "conv_channels", (), "conv_channels"),
    (ModelParams, "conv_channels", (32, 0, 32, 32), "conv_channels"),
    (ModelParams, "conv_channels", 32, "conv_channels"),
    (ModelParams, "pool_sizes", ((4, 4), (2, 2)), "pool_sizes"),
    (ModelParams, "pool_sizes", ((4, 4), (2, 2), (2,), (2, 2)), "pool_sizes"),
    (ModelParams, "pool_sizes", ((4, 4), (2, 2), (2, 0), (2, 2)), "pool_sizes"),
    (ModelParams, "pool_stride", 0, "pool_stride"),
    (ModelParams, "kernel_size", 0, "kernel_size"),
    (ModelParams, "hidden_units", 0, "hidden_units"),
    (ModelParams, "dropout", 1.0, "dropout"),
    (ModelParams, "dropout", -0.1, "dropout"),
    (ModelParams, "dropout", "0.25", "dropout"),
    (ModelParams, "classifier_dropout", 1.0, "classifier_dropout"),
    (ModelParams, "classifier_dropout", "0.5", "classifier_dropout"),
    (ModelParams, "decoder_dropout", -0.1, "decoder_dropout"),
    (ModelParams, "decoder_dropout", True, "decoder_dropout"),
    (ModelParams, "latent_dim", 1, "latent_dim"),
    (ModelParams, "iaf_steps", -1, "iaf_steps"),
    (ModelParams, "iaf_hidden", -1, "iaf_hidden"),
    (ModelParams, "iaf_context_units", -1, "iaf_context_units"),
    (ModelParams, "iaf_sigma_offset", math.inf, "iaf_sigma_offset"),
    (ModelParams, "iaf_sigma_offset", "1", "iaf_sigma_offset"),
    (ModelParams, "beta", -1.0, "beta"),
    (ModelParams, "classifier_units", (512, 0), "classifier_units"),
    (TrainParams, "batch_size", 0, "batch_size"),
    (TrainParams, "batch_size", 64.0, "batch_size"),
    (TrainParams, "learning_rate", 0.0, "learning_rate"),
    (TrainParams, "learning_rate", "1e-3", "learning_rate"),
    (TrainParams, "adam_epsilon", -1e-4, "adam_epsilon"),
    (TrainParams, "ema_momentum", 1.0, "ema_momentum"),
    (TrainParams, "ema_momentum", 0.0, "ema_momentum"),
    (TrainParams, "ema_momentum", "0.99", "ema_momentum"),
    (TrainParams, "clip_norm", 0.0, "clip_norm"),
    (TrainParams, "clip_norm", -1.0, "clip_norm"),
    (TrainParams, "clip_norm", "5000", "clip_norm"),
    (TrainParams, "validate_every", 0, "validate_every"),
    (TrainParams, "checkpoint_every", 0, "checkpoint_every"),
    (TrainParams, "plateau_patience", 0, "plateau_patience"),
    (TrainParams, "plateau_factor", 1.0, "plateau_factor"),
    (TrainParams, "min_learning_rate", 1.0, "min_learning_rate"),
    (TrainParams, "min_learning_rate", 0.0, "min_learning_rate"),
    (TrainParams, "num_steps", -5, "num_steps"),
    (TrainParams, "class_weighting", "yes", "class_weighting"),
    (TrainParams, "seed", 1.5, "seed"),
    (SegmentParams, "min_gap", -0.1, "min_gap"),
    (SegmentParams, "min_gap", math.nan, "min_gap"),
    (SegmentParams, "min_level_db", 3.0, "min_level_db"),
    (SegmentParams, "min_rise_db", 0.0, "min_rise_db"),
    (SegmentParams, "backtrack", 1, "backtrack"),
    (SegmentParams, "snap_start", -1.0, "snap_start"),
    (SegmentParams, "max_segments", 0, "max_segments"),
    (SegmentParams, "max_segments", 2.5, "max_segments"),
    (SegmentParams, "max_segments", True, "max_segments"),
    (SegmentParams, "delta", -0.1, "delta"),
    (SegmentParams, "wait", -0.01, "wait"),
    (SegmentParams, "pre_avg", 11.0, "pre_avg"),
    (SegmentParams, "post_max", "0", "post_max"),
]


@pytest.mark.parametrize(
    ("cls", "name", "value", "words"),
    BAD_VALUES,
    ids=[f"{c.__name__}.{n}={v!r}" for c, n, v, _ in BAD_VALUES],
)
def test_bad_value_raises_parameter_error_naming_it(cls, name, value, words):
    with pytest.raises(ParameterError, match=words) as info:
        cls(**{name: value})
    # the message shows what was given (except for sequences checked element-wise)
    if not isinstance(value, tuple):
        assert repr(value) in str(info.value) or str(value) in str(info.value)


def test_parameter_error_is_a_value_error():
    with pytest.raises(ValueError):
        AudioParams(n_mels=0)


def test_params_are_frozen():
    p = AudioParams()
    with pytest.raises(AttributeError):
        p.sample_rate = 8000  # type: ignore[misc]


def test_defaults_are_the_originals():
    a, m, t = AudioParams(), ModelParams(), TrainParams()
    assert (a.sample_rate, a.sample_sec, a.n_fft, a.hop_length, a.n_mels, a.top_db) == (
        16000,
        2.0,
        1024,
        256,
        128,
        80.0,
    )
    assert a.griffin_lim_iters >= 32
    assert m.conv_channels == (32, 64, 32, 32)
    assert m.pool_sizes == ((4, 4), (2, 2), (2, 4), (2, 2))
    assert (m.latent_dim, m.iaf_steps, m.hidden_units) == (64, 5, 512)
    assert (t.batch_size, t.learning_rate, t.adam_epsilon) == (64, 1e-3, 1e-4)


def test_lists_are_stored_as_tuples_so_params_hash_and_round_trip():
    m = ModelParams(conv_channels=[8, 8], pool_sizes=[[2, 2], [2, 2]], classifier_units=[16])
    assert m.conv_channels == (8, 8) and m.pool_sizes == ((2, 2), (2, 2))
    assert m == ModelParams(
        conv_channels=(8, 8), pool_sizes=((2, 2), (2, 2)), classifier_units=(16,)
    )
    assert hash(m) == hash(ModelParams.from_json(m.to_json()))
    r = RunParams(model=m, class_names=["a", "b"])
    assert r.class_names == ("a", "b")
    hash(r)


def test_run_params_refuses_architecture_that_shrinks_input_to_nothing():
    with pytest.raises(ParameterError, match="shrinks"):
        RunParams(audio=AudioParams(sample_sec=0.2), model=ModelParams())


@pytest.mark.parametrize(("field", "value"), [("audio", {}), ("model", None), ("train", 5)])
def test_run_params_refuses_wrong_sub_param_types(field, value):
    with pytest.raises(ParameterError, match=field):
        RunParams(**{field: value})


# --- JSON round trip --------------------------------------------------------------------------

ROUND_TRIP = [
    AudioParams(),
    AudioParams(
        sample_rate=22050,
        sample_sec=1.5,
        n_fft=512,
        hop_length=128,
        n_mels=64,
        fmin=30.0,
        fmax=8000.0,
        top_db=60.0,
        griffin_lim_iters=64,
    ),
    ModelParams(),
    ModelParams(
        conv_channels=(8, 16),
        pool_sizes=((2, 2), (3, 2)),
        classifier_units=(),
        iaf_steps=0,
        iaf_hidden=10,
        beta=0.5,
    ),
    TrainParams(),
    TrainParams(batch_size=8, num_steps=100, class_weighting=True, seed=7),
    SegmentParams(),
    SegmentParams(min_gap=0.2, min_level_db=-30.0, max_segments=8, backtrack=False),
]


@pytest.mark.parametrize("params", ROUND_TRIP, ids=lambda p: type(p).__name__)
def test_json_round_trip(params):
    text = params.to_json()
    json.loads(text)  # plain JSON
    back = type(params).from_json(text)
    assert back == params
    assert type(params).from_dict(params.to_dict()) == params


@pytest.mark.parametrize("cls", [AudioParams, ModelParams, TrainParams, RunParams, SegmentParams])
def test_unknown_keys_are_rejected(cls):
    data = cls().to_dict()
    data["smaple_rate"] = 8000  # a typo must not pass silently
    with pytest.raises(ParameterError, match="smaple_rate"):
        cls.from_dict(data)


def test_missing_keys_take_defaults():
    assert SegmentParams.from_dict({}) == SegmentParams()
    assert SegmentParams.from_dict({"min_gap": 0.2}) == SegmentParams(min_gap=0.2)


def test_segment_params_still_import_from_segment():
    from samplevae import segment

    assert segment.SegmentParams is SegmentParams


def test_unknown_nested_key_is_rejected():
    data = RunParams().to_dict()
    data["audio"]["n_mel"] = 64
    with pytest.raises(ParameterError, match="AudioParams.*n_mel"):
        RunParams.from_dict(data)


@pytest.mark.parametrize("cls", [AudioParams, RunParams])
def test_from_dict_needs_an_object(cls):
    with pytest.raises(ParameterError, match="JSON object"):
        cls.from_dict([1, 2])


def test_bad_value_in_json_is_a_parameter_error():
    data = AudioParams().to_dict()
    data["n_mels"] = -3
    with pytest.raises(ParameterError, match="n_mels"):
        AudioParams.from_dict(data)


def test_run_params_save_load(tmp_path):
    r = RunParams(
        audio=AudioParams(sample_sec=0.5, n_mels=32, n_fft=512, hop_length=128),
        model=ModelParams(
            conv_channels=(8, 8),
            pool_sizes=((2, 2), (2, 2)),
            hidden_units=32,
            latent_dim=8,
            iaf_steps=2,
            classifier_units=(16,),
        ),
        train=TrainParams(batch_size=16, validate_every=10),
        dataset="kit",
        workspace=str(tmp_path / "ws"),
        class_names=("kick", "snare"),
    )
    path = tmp_path / "run" / "params.json"
    r.save(path)
    assert json.loads(path.read_text())["audio"]["n_mels"] == 32
    assert RunParams.load(path) == r
    assert [p.name for p in path.parent.iterdir()] == ["params.json"]  # no temp file left


def test_run_params_partial_json_takes_defaults(tmp_path):
    path = tmp_path / "params.json"
    path.write_text(json.dumps({"audio": {"n_mels": 64}, "dataset": "d"}))
    r = RunParams.load(path)
    assert r.audio == AudioParams(n_mels=64) and r.model == ModelParams() and r.dataset == "d"


def test_run_params_load_errors_name_the_file(tmp_path):
    with pytest.raises(ParameterError, match="missing.json"):
        RunParams.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ParameterError, match="bad.json.*not valid JSON"):
        RunParams.load(bad)


# --- derived shapes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "n_samples", "n_frames"),
    [
        ({}, 32000, 125),
        ({"sample_sec": 1.0}, 16000, 63),
        ({"sample_sec": 0.5, "hop_length": 128, "n_fft": 512}, 8000, 63),
        ({"sample_sec": 4.0}, 64000, 250),
        ({"hop_length": 512}, 32000, 63),
        ({"sample_rate": 22050, "sample_sec": 1.0, "hop_length": 512}, 22050, 44),
        ({"sample_rate": 44100, "sample_sec": 0.1, "hop_length": 441}, 4410, 10),
    ],
)
def test_shapes_follow_from_params(kwargs, n_samples, n_frames):
    p = AudioParams(**kwargs)
    assert p.n_samples == n_samples
    assert p.n_frames == n_frames == math.ceil(n_samples / p.hop_length)
    assert p.shape == (p.n_mels, n_frames)


def test_default_conv_shapes_match_the_original():
    assert ModelParams().conv_shapes(AudioParams()) == [(63, 61), (31, 30), (15, 14), (7, 7)]


def test_conv_shapes_follow_clip_length():
    shapes = ModelParams().conv_shapes(AudioParams(sample_sec=4.0))
    assert shapes[0] == (63, 124) and shapes[-1][1] > 7


def test_tiny_conv_shapes():
    m = ModelParams(conv_channels=(8, 8), pool_sizes=((2, 2), (2, 2)))
    assert m.conv_shapes(AudioParams(sample_sec=0.5, n_mels=32, n_fft=512, hop_length=128)) == [
        (16, 31),
        (8, 15),
    ]


def test_fmax_default_is_nyquist():
    assert AudioParams(sample_rate=22050).fmax_hz == 11025.0
    assert AudioParams(fmax=4000.0).fmax_hz == 4000.0


def test_cache_key_depends_on_feature_params_only():
    base = AudioParams()
    assert base.key() == AudioParams().key()
    assert base.key() == AudioParams(griffin_lim_iters=100).key()
    keys = {
        base.key(),
        AudioParams(n_mels=64).key(),
        AudioParams(sample_sec=1.0).key(),
        AudioParams(top_db=60.0).key(),
        AudioParams(sample_rate=22050).key(),
    }
    assert len(keys) == 5
    assert params_hash({"a": 1, "b": 2}) == params_hash({"b": 2, "a": 1})


def test_a_params_json_without_the_newer_model_fields_loads_as_it_was_trained(tmp_path):
    """Fields added later (decoder_start, loud_weight, cepstral_weight, classifier_dropout,
    decoder_dropout) take the value an older model directory's params.json was trained with,
    not today's default: its weights still fit the model it builds, and resuming keeps its
    loss. A user's partial configuration takes today's defaults."""
    from samplevae.modeldir import ModelDir
    from samplevae.params import ModelParams, RunParams

    old = RunParams().to_dict()
    for name in ModelParams.ADDED_FIELDS:
        del old["model"][name]
    loaded = RunParams.from_dict(old, saved=True).model
    for name, value in ModelParams.ADDED_FIELDS.items():
        assert getattr(loaded, name) == value
    assert ModelParams().cepstral_weight != ModelParams.ADDED_FIELDS["cepstral_weight"]
    # through a model directory, as the tool and `train --resume` read it
    md = tmp_path / "old_model"
    md.mkdir()
    (md / "params.json").write_text(json.dumps(old))
    assert ModelDir(md).params.model == loaded
    # a user's partial configuration takes today's defaults
    assert RunParams.from_dict({"model": {"latent_dim": 8}}).model == ModelParams(latent_dim=8)
    again = RunParams.from_dict(RunParams(model=ModelParams(decoder_start=2)).to_dict())
    assert again.model.decoder_start == 2
