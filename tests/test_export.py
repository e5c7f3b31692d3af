"""Kit export: folder copies (originals untouched, names unique and safe), SFZ and Hydrogen
kits parsed back and referencing every file, segments, generated sounds, bad input, CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from samplevae.errors import ParameterError
from samplevae.export import ExportError, export_kit, safe_name

HYDROGEN_NS = "{http://www.hydrogen-music.org/drumkit}"


@pytest.fixture
def samples(kit_dir, tmp_path):
    """Four kit files, two of them with the same name in different folders, one with a name
    that is not filesystem-safe."""
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "b").mkdir()
    files = [
        src / "a" / "Kick.wav",
        src / "b" / "kick.wav",
        src / "a" / "snäre: 1?.wav",
        src / "b" / "hat.wav",
    ]
    for f, orig in zip(
        files,
        [
            "kick/kick_000.wav",
            "kick/kick_001.wav",
            "snare/snare_000.wav",
            "hihat_closed/hihat_closed_000.wav",
        ],
        strict=True,
    ):
        shutil.copyfile(kit_dir / orig, f)
    return files


def _state(files):
    return [(os.stat(f).st_mtime_ns, Path(f).read_bytes()) for f in files]


def parse_sfz(path: Path) -> list[dict[str, str]]:
    """The opcodes of each ``<region>`` of an SFZ file."""
    text = re.sub(r"//[^\n]*", "", path.read_text())
    regions = []
    for header, body in re.findall(r"<(\w+)>([^<]*)", text):
        ops = dict(re.findall(r"(\w+)=(\S+)", body))
        if header == "region":
            regions.append(ops)
    return regions


def test_folder_copies_are_byte_identical_unique_and_safe(samples, tmp_path):
    before = _state(samples)
    res = export_kit(samples, tmp_path / "kit")
    assert _state(samples) == before and all(f.is_file() for f in samples)
    names = [p.name for p in res.samples]
    assert len({n.lower() for n in names}) == len(names) == 4
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", n) for n in names)
    for out, src in zip(res.samples, samples, strict=True):
        assert out.read_bytes() == src.read_bytes()
    assert sorted(p.name for p in (tmp_path / "kit").iterdir()) == sorted(names)
    assert res.kit_file is None and res.sources == [str(s) for s in samples]


def test_sfz_maps_every_sample_to_its_own_key(samples, tmp_path):
    res = export_kit(samples, tmp_path / "sfzkit", format="sfz", name="My kit")
    assert res.kit_file == tmp_path / "sfzkit" / "My_kit.sfz"
    regions = parse_sfz(res.kit_file)
    assert len(regions) == len(samples)
    referenced = [res.kit_file.parent / r["sample"] for r in regions]
    assert referenced == res.samples and all(p.is_file() for p in referenced)
    assert [int(r["key"]) for r in regions] == [36, 37, 38, 39] == res.keys
    assert "loop_mode=one_shot" in res.kit_file.read_text()
    res2 = export_kit(samples, tmp_path / "sfz2", format="sfz", first_key=60)
    assert [int(r["key"]) for r in parse_sfz(res2.kit_file)] == [60, 61, 62, 63]


def test_hydrogen_drumkit_xml_references_every_sample(samples, tmp_path):
    res = export_kit(samples, tmp_path / "hkit", format="hydrogen", name="Kit <&>")
    root = ET.parse(res.kit_file).getroot()
    assert root.tag == f"{HYDROGEN_NS}drumkit_info"
    assert root.find(f"{HYDROGEN_NS}name").text == "Kit <&>"
    instruments = root.find(f"{HYDROGEN_NS}instrumentList").findall(f"{HYDROGEN_NS}instrument")
    assert len(instruments) == len(samples)
    files = [i.find(f".//{HYDROGEN_NS}layer/{HYDROGEN_NS}filename").text for i in instruments]
    assert [res.kit_file.parent / f for f in files] == res.samples
    assert all((res.kit_file.parent / f).is_file() for f in files)
    assert [int(i.find(f"{HYDROGEN_NS}id").text) for i in instruments] == [0, 1, 2, 3]


def test_generated_sounds_and_segments_are_written_as_wavs(samples, tmp_path):
    rng = np.random.default_rng(0)
    blend = (0.1 * rng.standard_normal(8000)).astype(np.float32)
    long_file = tmp_path / "take.wav"
    stereo = (0.1 * rng.standard_normal((44100, 2))).astype(np.float32)
    sf.write(long_file, stereo, 44100, subtype="PCM_24")
    res = export_kit(
        [samples[0], ("blend kick+snare", blend, 16000), (long_file, 0.25, 0.5)],
        tmp_path / "mixed",
        format="sfz",
    )
    y, sr = sf.read(res.samples[1], dtype="float32")
    assert sr == 16000 and np.allclose(y, blend, atol=1e-6)
    seg, sr = sf.read(res.samples[2], dtype="float32")
    assert sr == 44100 and seg.shape == (11025, 2)
    assert np.allclose(seg, stereo[11025:22050], atol=1e-6)
    assert [r["sample"] for r in parse_sfz(res.kit_file)] == [
        f"samples/{p.name}" for p in res.samples
    ]


def test_similar_results_export_whole_files_or_their_segments(samples, tmp_path):
    from samplevae.library import Library
    from samplevae.tool import SimilarResult

    take = tmp_path / "loop.wav"
    sf.write(take, np.ones(16000, np.float32) * np.repeat([0.1, 0.2, 0.3, 0.4], 4000), 16000)
    paths = [str(samples[0]), str(take), str(take), str(take)]
    lib = Library(
        [str(tmp_path)], paths, [0.0, 0.0, 0.25, 0.5], np.eye(4, 3, dtype=np.float32), [], None
    )
    res = export_kit(
        SimilarResult([str(samples[0]), str(take)], [0.0, 0.25], [0.0, 0.1], [0, 2]),
        tmp_path / "sim",
        library=lib,
    )
    assert res.samples[0].read_bytes() == samples[0].read_bytes()
    y, _ = sf.read(res.samples[1], dtype="float32")
    assert y.size == 4000 and np.allclose(y, 0.2, atol=1e-4)  # 0.25 s to the next entry


def test_never_writes_into_a_non_empty_folder_and_leaves_no_partial_kit(samples, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not an empty folder"):
        export_kit(samples, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    missing = tmp_path / "nope.wav"
    with pytest.raises(ExportError, match="nope.wav"):
        export_kit([samples[0], missing], tmp_path / "k2")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(ExportError, match="bad.wav"):
        export_kit([samples[0], (bad, 0.1, None)], tmp_path / "k3")
    assert not (tmp_path / "k2").exists() and not (tmp_path / "k3").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export_kit(samples[:1], empty).samples[0].is_file()


def test_bad_requests_are_clear_errors(samples, tmp_path):
    with pytest.raises(ParameterError, match="format"):
        export_kit(samples, tmp_path / "x", format="zip")
    with pytest.raises(ExportError, match="empty"):
        export_kit([], tmp_path / "x")
    with pytest.raises(ExportError, match="MIDI keys"):
        export_kit(samples, tmp_path / "x", format="sfz", first_key=126)
    with pytest.raises(ParameterError, match="sample rate"):
        export_kit([("gen", np.zeros(10, np.float32), None)], tmp_path / "x")


def test_safe_name():
    assert safe_name("snäre: 1?") == "snare_1"
    assert safe_name("../../etc/passwd") == "etc_passwd"
    assert safe_name("CON") == "_CON"
    assert safe_name("???") == "sample"
    assert len(safe_name("x" * 500)) == 80


def test_cli_export(samples, tmp_path, capsys):
    from samplevae.cli import main

    out = tmp_path / "cli_kit"
    code = main(
        [
            "export",
            *map(str, samples),
            "--out",
            str(out),
            "--format",
            "hydrogen",
            "--name",
            "CLI kit",
            "--json",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert Path(data["kit_file"]).name == "drumkit.xml" and len(data["samples"]) == 4
    assert main(["export", str(samples[0]), "--out", str(out)]) == 1  # not empty: refused
    assert "not an empty folder" in capsys.readouterr().err
    assert main(["export", "--out", str(tmp_path / "none")]) == 1


def test_cli_export_from_similar(tiny_model_dir, kit_dir, tmp_path, capsys):
    from samplevae.cli import main

    target = kit_dir / "kick" / "kick_002.wav"
    out = tmp_path / "similar_kit"
    code = main(
        [
            "export",
            "--from-similar",
            str(target),
            "--logdir",
            str(tiny_model_dir),
            "--library",
            str(kit_dir),
            "-n",
            "3",
            "--format",
            "sfz",
            "--out",
            str(out),
            "--no-progress",
            "--workers",
            "1",
            "--json",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["samples"]) == 3 and len(parse_sfz(Path(data["kit_file"]))) == 3
    assert os.path.realpath(data["sources"][0]) == os.path.realpath(target)  # itself, nearest
    assert Path(data["samples"][0]).read_bytes() == target.read_bytes()


def test_export_a_class_of_the_library(tiny_model_dir, kit_dir, tmp_path, capsys):
    from samplevae.cli import main
    from samplevae.export import class_selection
    from samplevae.tool import SoundSampleTool

    tool = SoundSampleTool(tiny_model_dir, library_dir=kit_dir, progress=False, workers=1)
    cls = tool.predict(kit_dir / "kick" / "kick_000.wav")[1]  # a class the tiny model uses
    items = class_selection(tool, cls, limit=5)
    assert 1 <= len(items) <= 5 and all(it.whole_file for it in items)
    probs = [tool.predict(it.source) for it in items]
    assert all(name == cls for _, name in probs)
    c = tool.class_names.index(cls)
    pc = [float(p[c]) for p, _ in probs]
    assert all(a >= b - 1e-5 for a, b in zip(pc, pc[1:], strict=False))  # most probable first
    with pytest.raises(ParameterError, match="unknown class 'cowbell'"):
        class_selection(tool, "cowbell")
    out = tmp_path / "kicks"
    assert (
        main(
            [
                "export",
                "--from-class",
                cls,
                "-n",
                "5",
                "--logdir",
                str(tiny_model_dir),
                "--library",
                str(kit_dir),
                "--format",
                "hydrogen",
                "--out",
                str(out),
                "--no-progress",
                "--workers",
                "1",
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["sources"] == [str(it.source) for it in items]
