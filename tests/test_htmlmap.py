"""``samplevae map``: the offline HTML map of a library (headless checks of the page)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest

from samplevae.cli import main
from samplevae.htmlmap import write_map
from samplevae.library import Library


def page_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="samplevae-data">(.*?)</script>', html, re.S)
    assert m, "the page holds no data element"
    return json.loads(m.group(1))


def plotly_traces(html: str) -> list[dict]:
    """The figure's traces as plotly.js gets them (``Plotly.newPlot(id, [traces], ...)``)."""
    m = re.search(r'Plotly\.newPlot\(\s*"map",\s*', html)
    assert m, "no Plotly.newPlot call for the map div"
    traces, _ = json.JSONDecoder().raw_decode(html, m.end())
    return traces


def assert_offline(html: str) -> None:
    """No script, style or media is fetched from anywhere: everything is inline."""
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I), "an external <script src>"
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?https?:", html, re.I)
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js itself is embedded


@pytest.fixture(scope="module")
def map_run(tiny_model_dir, kit_dir, tmp_path_factory):
    """``samplevae map KIT --logdir M --out map.html`` (default UMAP) and what it printed."""
    out = tmp_path_factory.mktemp("map") / "kit map.html"
    code = main(
        [
            "map",
            str(kit_dir),
            "--logdir",
            str(tiny_model_dir),
            "--out",
            str(out),
            "--no-progress",
            "--json",
        ]
    )
    assert code == 0
    return out


def test_map_holds_every_file_coloured_by_folder(map_run, kit_dir):
    html = map_run.read_text(encoding="utf-8")
    assert_offline(html)
    data = page_data(html)
    files = sorted(p for p in Path(kit_dir).rglob("*.wav"))
    assert sorted(data["names"]) == sorted(p.name for p in files)
    # each point's folder is its file's folder below the library root
    by_name = {p.name: p.parent.relative_to(kit_dir).as_posix() for p in files}
    assert [by_name[n] for n in data["names"]] == data["folders"]
    folders = sorted({p.parent.name for p in files})
    assert [item["folder"] for item in data["legend"]] == folders
    colours = [item["colour"] for item in data["legend"]]
    assert len(set(colours)) == len(colours), "two folders share a colour"
    # one WebGL trace per folder, in its colour, holding exactly that folder's points
    traces = plotly_traces(html)
    assert [t["type"] for t in traces] == ["scattergl"] * len(folders)
    for t, item in zip(traces, data["legend"], strict=True):
        assert t["name"] == item["folder"] and t["marker"]["color"] == item["colour"]
        assert {data["folders"][i] for i in t["customdata"]} == {item["folder"]}
        assert t["text"] == [data["names"][i] for i in t["customdata"]]  # hover: the name
    assert sorted(i for t in traces for i in t["customdata"]) == list(range(len(files)))
    assert np.all(np.isfinite(data["x"])) and np.ptp(data["x"]) > 0


def test_map_links_each_file_relative_to_the_page(map_run):
    data = page_data(map_run.read_text(encoding="utf-8"))
    for name, src in zip(data["names"], data["src"], strict=True):
        assert not src.startswith(("/", "file:", "http")), src
        target = (map_run.parent / unquote(src)).resolve()
        assert target.is_file() and target.name == name


def test_map_reuses_the_library_and_refuses_to_overwrite(map_run, kit_dir, tiny_model_dir, capsys):
    before = map_run.read_bytes()
    args = [
        "map",
        str(kit_dir),
        "--logdir",
        str(tiny_model_dir),
        "--out",
        str(map_run),
        "--no-progress",
        "--method",
        "pca",
    ]
    assert main(args) == 1
    assert "exists" in capsys.readouterr().err and map_run.read_bytes() == before
    assert main([*args, "--force", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["entries"] == len(page_data(map_run.read_text(encoding="utf-8"))["names"])
    assert Path(info["cache"]).is_file()


def test_embed_audio_inlines_the_files(tmp_path, kit_dir):
    files = sorted(Path(kit_dir).rglob("*.wav"))[:6]
    lib = Library(
        [str(kit_dir)],
        [str(f) for f in files],
        np.zeros(len(files)),
        np.arange(len(files) * 3, dtype=np.float32).reshape(len(files), 3) ** 0.5,
        [],
        None,
    )
    out = write_map(lib, tmp_path / "m.html", embed_audio=True, method="pca")
    data = page_data(out.read_text(encoding="utf-8"))
    for f, src in zip(files, data["src"], strict=True):
        head, b64 = src.split(",", 1)
        assert head == "data:audio/wav;base64"
        assert base64.b64decode(b64) == f.read_bytes()
    # too big to inline: linked instead
    out = write_map(lib, tmp_path / "m2.html", embed_audio=True, method="pca", embed_max_bytes=10)
    assert all(not s.startswith("data:") for s in page_data(out.read_text("utf-8"))["src"])


def test_map_of_an_empty_library_or_a_bad_out_is_a_clear_error(tmp_path):
    from samplevae.errors import SampleVAEError

    empty = Library([str(tmp_path)], [], np.zeros(0), np.zeros((0, 3), np.float32), [], None)
    with pytest.raises(SampleVAEError, match="no usable entries"):
        write_map(empty, tmp_path / "m.html")
    lib = Library(
        [str(tmp_path)],
        [str(tmp_path / "a.wav")],
        np.zeros(1),
        np.ones((1, 3), np.float32),
        [],
        None,
    )
    with pytest.raises(SampleVAEError, match="does not exist"):
        write_map(lib, tmp_path / "nowhere" / "m.html")
    assert not (tmp_path / "m.html").exists()


def test_several_roots_name_their_folders_by_root(tmp_path):
    a, b = tmp_path / "drums", tmp_path / "synths"
    files = [a / "x.wav", a / "kick" / "k.wav", b / "pad" / "p.wav"]
    for f in files:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"RIFF")
    lib = Library(
        [str(a), str(b)],
        [str(f) for f in files],
        np.zeros(3),
        np.eye(3, dtype=np.float32),
        [],
        None,
    )
    data = page_data(write_map(lib, tmp_path / "m.html", method="pca").read_text("utf-8"))
    assert data["folders"] == ["drums", "drums/kick", "synths/pad"]
    assert data["src"] == ["drums/x.wav", "drums/kick/k.wav", "synths/pad/p.wav"]


def test_map_takes_a_model_by_path_or_name_but_not_with_logdir(
    map_run, tiny_model_dir, kit_dir, tmp_path, capsys
):
    out = tmp_path / "by-path.html"
    args = ["map", str(kit_dir), "--out", str(out), "--no-progress", "--method", "pca"]
    assert main([*args, "--model", str(tiny_model_dir), "--json"]) == 0  # a path still works
    info = json.loads(capsys.readouterr().out)
    assert info["model"] == str(tiny_model_dir) and out.is_file()
    assert Path(info["cache"]).is_relative_to(tiny_model_dir)  # your model keeps its cache
    with pytest.raises(SystemExit):
        main([*args, "--model", "drums", "--logdir", str(tiny_model_dir)])
    with pytest.raises(SystemExit):
        main(args)  # neither
    assert "--model" in capsys.readouterr().err
