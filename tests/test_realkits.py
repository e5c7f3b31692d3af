"""The real-drum benchmark's rules (bench/realkits.py), without network, apt or fluidsynth:
labels from file names, the GM note map, which kits are rendered, the split by family,
the SoundFont preset parser, de-duplication and the folders make-dataset reads."""

from __future__ import annotations

import csv
import importlib.util
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


rk = _load("realkits")


@pytest.mark.parametrize(
    "name, label",
    [
        ("kick01.ogg", "kick"),
        ("kick_hardcore01.ogg", "kick"),
        ("bassdrum_acoustic02.ogg", "kick"),
        ("BD_Acou_01.wav", "kick"),
        ("Bass Drum 2.wav", "kick"),
        ("snare05.ogg", "snare"),
        ("Snr_Acou_01.wav", "snare"),
        ("nasty_snare01.ogg", "snare"),
        ("clap03.ogg", "clap"),
        ("HandClap.wav", "clap"),
        ("rim01.ogg", "rim"),
        ("sidestick01.ogg", "rim"),
        ("Side Stick.wav", "rim"),
        ("hihat_closed04.ogg", "hihat_closed"),
        ("Hi-Hat Closed.wav", "hihat_closed"),
        ("hihat_opened02.ogg", "hihat_open"),
        ("HH_open.wav", "hihat_open"),
        ("tom_low01.ogg", "tom_low"),
        ("Floor Tom", "tom_low"),
        ("tom_mid01.ogg", "tom_mid"),
        ("tom_hi01.ogg", "tom_high"),
        ("High Tom.wav", "tom_high"),
    ],
)
def test_names_that_are_labelled(name, label):
    assert rk.label_from_name(name) == (label, "")


@pytest.mark.parametrize(
    "name",
    [
        "kick_loop.wav",  # a loop, not a one-shot
        "crash01.ogg",
        "ride02.ogg",
        "RideBell.wav",
        "shaker01.ogg",
        "zap01.ogg",
        "wood01.ogg",
        "clav01.ogg",  # claves, not a clap
        "hihat_foot_pedal01.ogg",  # the pedal hat is left out, as GM note 44
        "HiHat.wav",  # open or closed?
        "tom03.ogg",
        "Tom",  # which tom?
        "snare_rim01.ogg",  # a rim shot on the snare: two classes
        "nasty_bass01.ogg",  # a bass, maybe not a drum
        "snare_roll.wav",
        "drum_fill_01.wav",
        "hihat_closed_open.wav",
    ],
)
def test_names_that_must_not_be_labelled(name):
    label, reason = rk.label_from_name(name)
    assert label is None
    assert reason


def test_exadrums_labels_combine_kit_and_file_names():
    kit = b"""<root><kitName>Default</kitName>
      <Instrument type="Pad"><instrumentName>Floor Tom</instrumentName>
        <sounds><sound type="DrumHead">Tom/Tom03.wav</sound></sounds></Instrument>
      <Instrument type="Pad"><instrumentName>Tom</instrumentName>
        <sounds><sound type="DrumHead">Tom/Tom01.wav</sound></sounds></Instrument>
      <Instrument type="Pad"><instrumentName>Kick</instrumentName>
        <sounds><sound type="DrumHead">BassDrum/BD_Acou_01.wav</sound></sounds></Instrument>
      <Instrument type="Pad"><instrumentName>Snare</instrumentName>
        <sounds><sound type="DrumHead">X/Kick_2.wav</sound></sounds></Instrument>
    </root>"""
    inst = rk.exadrums_instruments(kit)
    assert inst == {
        "Tom03.wav": "Floor Tom",
        "Tom01.wav": "Tom",
        "BD_Acou_01.wav": "Kick",
        "Kick_2.wav": "Snare",
    }
    assert rk.label_exadrums("Tom03.wav", inst["Tom03.wav"]) == ("tom_low", "")
    assert rk.label_exadrums("Tom01.wav", inst["Tom01.wav"])[0] is None
    assert rk.label_exadrums("BD_Acou_01.wav", inst["BD_Acou_01.wav"]) == ("kick", "")
    label, reason = rk.label_exadrums("Kick_2.wav", inst["Kick_2.wav"])  # the two disagree
    assert label is None and "snare" in reason
    assert rk.label_exadrums("HiHat.wav", None)[0] is None


@pytest.mark.parametrize(
    "name, label",
    [
        ("bd_haus.flac", "kick"),
        ("bd_808.flac", "kick"),
        ("drum_bass_hard.flac", "kick"),
        ("drum_heavy_kick.flac", "kick"),
        ("elec_hollow_kick.flac", "kick"),
        ("sn_dub.flac", "snare"),
        ("elec_hi_snare.flac", "snare"),  # "hi" is the snare's pitch, not a tom's
        ("drum_snare_soft.flac", "snare"),
        ("drum_cymbal_closed.flac", "hihat_closed"),
        ("drum_cymbal_open.flac", "hihat_open"),
        ("drum_tom_lo_hard.flac", "tom_low"),
        ("drum_tom_mid_soft.flac", "tom_mid"),
        ("drum_tom_hi_hard.flac", "tom_high"),
        # left out: no pitch, cymbals, percussion of other kinds, loops
        ("elec_fuzz_tom.flac", None),
        ("drum_cymbal_hard.flac", None),
        ("drum_cymbal_pedal.flac", None),
        ("drum_splash_soft.flac", None),
        ("drum_roll.flac", None),
        ("drum_cowbell.flac", None),
        ("perc_snap.flac", None),
        ("loop_amen.flac", None),
        ("tabla_na.flac", None),
        ("bass_hit_c.flac", None),  # a bass note, not a bass drum
    ],
)
def test_sonic_pi_labels(name, label):
    got, reason = rk.label_sonic_pi(name)
    assert got == label
    assert bool(reason) == (label is None)


def test_extra_training_sources_only_train():
    extra = set(rk.EXTRA_FAMILIES)
    assert extra == {rk.FAMILIES[s] for s in ("OPL3_FM", "sonicpi", "GeneralUser_GS")}
    assert not extra & set(rk.DEFAULT_VALID_FAMILIES)
    assert rk.split_of("OPL3_FM") == rk.split_of("sonicpi") == "train"
    assert rk.split_of("GeneralUser_GS") == "train"
    assert not rk.FORBIDDEN_PACKAGES & set(rk.EXTRA_PACKAGES)
    # every extra soundfont comes from a package the script fetches, under its own family
    for sf in rk.EXTRA_SOUNDFONTS:
        assert sf.package in rk.EXTRA_PACKAGES and sf.family in extra
    # csound's GM bank and denemo's A320U play TimGM6mb's recordings (a validation family):
    # never a source
    packages = {sf.package for sf in rk.SOUNDFONTS + rk.EXTRA_SOUNDFONTS}
    assert not {"csound-soundfont", "denemo-data"} & packages


def test_extra_families_chosen_by_name_in_a_fixed_order():
    assert rk.extra_families(True) == rk.EXTRA_FAMILIES
    assert rk.extra_families(False) == ()
    assert rk.extra_families(["generaluser", "opl3"]) == ("opl3", "generaluser")
    assert rk.extra_families(("sonicpi",)) == ("sonicpi",)
    with pytest.raises(ValueError, match="a320u"):
        rk.extra_families(["opl3", "a320u"])
    with pytest.raises(ValueError, match="timgm6mb"):  # a validation family is not extra
        rk.extra_families(["timgm6mb"])


def test_near_copies_are_caught_across_envelope_level_and_start():
    rng = np.random.default_rng(1)
    sr, n = rk.SAMPLE_RATE, int(rk.SAMPLE_RATE * rk.CLIP_SEC)
    t = np.arange(n) / sr

    def hit(f0, decay, noise):
        x = np.sin(2 * np.pi * f0 * t * (1 + 0.3 * np.exp(-t * 30))) * np.exp(-t * decay)
        return x + noise * rng.standard_normal(n) * np.exp(-t * 60)

    recording = hit(180.0, 12.0, 0.3)
    # the same recording in another kit: 30 ms later, quieter, a shorter release
    copy = np.zeros(n)
    copy[480:] = 0.4 * recording[: n - 480] * np.exp(-t[: n - 480] * 2.0)
    other_tom = hit(240.0, 12.0, 0.3)  # same synthesis, another pitch
    snare = hit(200.0, 25.0, 2.0)

    def item(name, x):
        return _item("FluidR3_GM", name, "tom_low", np.round(x / np.abs(x).max() * 30000))

    valid = [item("v_snare", snare), item("v_tom", recording)]
    train = [item("t_other", other_tom), item("t_copy", copy), item("t_snare2", hit(200, 25, 2))]
    found = rk.near_copies(train, valid)
    assert [(i, j) for i, j, _ in found] == [(1, 1)]
    assert found[0][2] >= rk.NEAR_COPY
    assert rk.near_copies(train, []) == [] and rk.near_copies([], valid) == []


def test_gm_note_map():
    m = rk.GM_NOTE_MAP
    assert m[35] == m[36] == "kick"
    assert m[38] == m[40] == "snare"
    assert m[42] == "hihat_closed" and m[46] == "hihat_open"
    assert m[41] == m[43] == "tom_low"
    assert m[45] == m[47] == "tom_mid"
    assert m[48] == m[50] == "tom_high"
    assert m[39] == "clap" and m[37] == "rim"
    assert 44 not in m  # pedal hat left out
    assert set(m.values()) == set(rk.CLASSES)
    assert len(m) == 14


def test_which_kits_are_rendered_and_with_which_notes():
    for name in (
        "Standard",
        "Room 3",
        "Power",
        "Electronic",
        "TR-808",
        "TR 808",
        "Jazz 2",
        "Brush",
    ):
        assert rk.kit_exclusion(name) is None, name
    for name in (
        "SFX",
        "CM-64/32 Set",  # the MT-32 rhythm map
        "Marching Snare",
        "OldMarchingTenor",
        "Orchestra Kit",
        "Orchestra",
        "Metronome",
    ):
        assert rk.kit_exclusion(name), name
    assert rk.kit_note_map("Standard") == rk.GM_NOTE_MAP
    brush = rk.kit_note_map("Brush 1")
    assert 39 not in brush and set(brush) == set(rk.GM_NOTE_MAP) - {39}


def test_split_by_family_keeps_families_together():
    assert rk.split_of("FluidR3_GM") == rk.split_of("FluidR3_GS") == "train"
    # MuseScore General is derived from FluidR3: same family, same split
    assert rk.split_of("MuseScore_General_Lite") == rk.split_of("FluidR3_GM")
    for source in ("TimGM6mb", "lmms", "exadrums"):
        assert rk.split_of(source) == "valid"
    fams = ("fluidr3",)
    assert rk.split_of("MuseScore_General_Lite", fams) == "valid"
    assert rk.split_of("FluidR3_GS", fams) == "valid"
    assert rk.split_of("TimGM6mb", fams) == "train"
    with pytest.raises(KeyError):
        rk.split_of("unknown_source")
    assert not rk.FORBIDDEN_PACKAGES & set(rk.PACKAGES)
    with pytest.raises(ValueError, match="reserved"):
        rk.fetch_package("hydrogen-drumkits", Path("/nonexistent"))


def _riff_chunk(cid: bytes, body: bytes, pad: bool = True) -> bytes:
    out = cid + struct.pack("<I", len(body)) + body
    return out + (b"\0" if pad and len(body) % 2 else b"")


def _soundfont(presets, pad: bool = True) -> bytes:
    recs = b"".join(
        name.encode().ljust(20, b"\0") + struct.pack("<HHHIII", prog, bank, 0, 0, 0, 0)
        for bank, prog, name in [*presets, (0, 0, "EOP")]
    )
    info = _riff_chunk(b"LIST", b"INFO" + _riff_chunk(b"ifil", b"\2\0\1\0"))
    sdta = _riff_chunk(b"LIST", b"sdta" + _riff_chunk(b"smpl", b"\1\2\3"), pad=pad)  # odd size
    pdta = _riff_chunk(b"LIST", b"pdta" + _riff_chunk(b"phdr", recs))
    body = b"sfbk" + info + sdta + pdta
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("pad", [True, False])  # MuseScore's .sf3 leaves out the pad byte
def test_sf2_preset_parser(pad):
    presets = [(0, 0, "Piano"), (128, 25, "TR-808"), (128, 0, "Standard"), (1, 120, "Cut")]
    data = _soundfont(presets, pad=pad)
    assert rk.sf2_presets(data) == presets
    assert rk.drum_kits(data) == [(0, "Standard"), (25, "TR-808")]
    with pytest.raises(ValueError):
        rk.sf2_presets(b"RIFF\0\0\0\0WAVE")


def test_hit_schedule_puts_each_note_and_velocity_at_a_fixed_time():
    full = rk.hit_schedule(rk.GM_NOTE_MAP, (40, 127))
    brush = rk.hit_schedule(rk.kit_note_map("Brush"), (40, 127))
    assert len(full) == 28 and len(brush) == 26
    assert set(brush) <= set(full)  # a missing note leaves a gap, it does not shift the others
    times = [t for t, _, _ in full]
    assert all(b - a >= rk.CLIP_SEC * 1000 for a, b in zip(times, times[1:], strict=False))
    midi = rk.kit_midi(25, full)
    assert midi.startswith(b"MThd") and b"MTrk" in midi
    assert bytes([0xC9, 25]) in midi  # program change on channel 10
    assert midi.count(bytes([0x99])) == len(full)  # one note-on per hit


def _item(source, name, label, audio):
    return rk.Item(source, source, name, label, np.asarray(audio, dtype=np.int16))


def test_deduplicate_keeps_the_first_of_identical_sounds():
    a = _item("FluidR3_GM", "a.wav", "kick", [0, 100, -100])
    b = _item("FluidR3_GM", "b.wav", "kick", [0, 100, -100])
    c = _item("FluidR3_GM", "c.wav", "kick", [0, 100, -99])
    kept, dropped = rk.deduplicate([a, b, c])
    assert [i.name for i in kept] == ["a.wav", "c.wav"]
    assert [(d.name, t.name) for d, t in dropped] == [("b.wav", "a.wav")]


def test_write_benchmark_makes_class_folders_make_dataset_reads(tmp_path):
    from samplevae.dataset import make_dataset

    rng = np.random.default_rng(0)

    def hit():
        return (rng.standard_normal(3200) * 3000).astype(np.int16)

    items = [
        _item("FluidR3_GM", f"fl_{c}_{i}.wav", c, hit())
        for c in ("kick", "snare")
        for i in range(3)
    ]
    items += [_item("lmms", f"lmms_{c}.wav", c, hit()) for c in ("kick", "snare")]
    out = tmp_path / "bench"
    (out / "train" / "kick").mkdir(parents=True)
    (out / "train" / "kick" / "stale.wav").write_bytes(b"old")
    rows = rk.write_benchmark(out, items, [("lmms", "crash01.ogg", "crash")])
    assert not (out / "train" / "kick" / "stale.wav").exists()
    assert {r["split"] for r in rows if r["source"] == "lmms"} == {"valid"}
    assert {r["split"] for r in rows if r["source"] == "FluidR3_GM"} == {"train"}
    with open(out / "manifest.csv") as f:
        manifest = list(csv.DictReader(f))
    assert len(manifest) == 8
    assert {"source", "file", "class", "split"} <= set(manifest[0])
    assert all((out / r["file"]).is_file() for r in manifest)
    assert (out / "valid" / "snare" / "lmms_snare.wav").is_file()
    assert "crash01.ogg" in (out / "excluded.csv").read_text()
    table = rk.count_table(rows)
    assert "kick" in table and "tom_low" in table
    ds = make_dataset(
        "bench",
        out / "train",
        classes=True,
        workspace=tmp_path / "ws",
        progress=False,
        train_ratio=1.0,
    )
    assert sorted(ds.class_names) == ["kick", "snare"]
    assert ds.counts()["train"] == {"kick": 3, "snare": 3}
    with pytest.raises(ValueError, match="not one of"):
        rk.write_benchmark(out, [_item("lmms", "x.wav", "cowbell", hit())], [])


def test_extra_train_option_adds_the_named_families_or_all(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(rk, "build", lambda out, **kw: calls.append(kw))
    out = ["--out", str(tmp_path)]
    assert rk.main(out) == 0
    assert rk.main(["--extra-train", *out]) == 0
    assert rk.main(["--extra-train", "opl3", "sonicpi", *out]) == 0
    assert [tuple(c["extra_train"]) for c in calls] == [
        (),
        rk.EXTRA_FAMILIES,
        ("opl3", "sonicpi"),
    ]
    # an extra family validates only when it is added
    with pytest.raises(SystemExit):
        rk.main(["--valid-families", "generaluser", *out])
    assert rk.main(["--extra-train", "generaluser", "--valid-families", "generaluser", *out]) == 0
    assert calls[-1]["valid_families"] == ["generaluser"]
