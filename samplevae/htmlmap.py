"""A self-contained, offline HTML map of a sample library: ``samplevae map``.

:func:`write_map` projects a :class:`~samplevae.library.Library`'s embeddings to 2-D
(:func:`samplevae.projection.project_2d`: UMAP, PCA for tiny libraries) and writes one HTML
file with plotly.js embedded (no network needed): a WebGL scatter (``Scattergl``, so 10 000+
points stay responsive), one colour per folder, the file name on hover, and a click plays
the file in the page's ``<audio>`` element. The audio is referenced by its path relative to
the HTML file (so the page and the library can move together), or inlined as ``data:`` URLs
with ``embed_audio=True`` (files up to ``embed_max_bytes``; larger ones stay references).
The file is written atomically.
"""

from __future__ import annotations

import base64
import html
import json
import mimetypes
import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import numpy as np

from samplevae.errors import SampleVAEError
from samplevae.io import atomic_write_text
from samplevae.projection import PALETTE, project_2d

__all__ = ["write_map", "map_data", "audio_src", "EMBED_MAX_BYTES"]

EMBED_MAX_BYTES = 2_000_000  # --embed-audio inlines files up to this size
_MIME = {
    ".wav": "audio/wav",
    ".aif": "audio/aiff",
    ".aiff": "audio/aiff",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".mp3": "audio/mpeg",
}


def audio_src(
    path: str | Path,
    html_dir: str | Path,
    *,
    embed: bool = False,
    embed_max_bytes: int = EMBED_MAX_BYTES,
) -> str:
    """What an ``<audio src>`` in a page in ``html_dir`` needs to play ``path``: a
    ``data:`` URL (``embed`` and small enough), else the URL-quoted path relative to the
    page, or a ``file://`` URL when there is no relative path (another drive)."""
    path = Path(path)
    if embed:
        try:
            size = path.stat().st_size
        except OSError:
            size = None
        if size is not None and size <= embed_max_bytes:
            mime = (
                _MIME.get(path.suffix.lower())
                or mimetypes.guess_type(path.name)[0]
                or "application/octet-stream"
            )
            return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    try:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(html_dir))
    except ValueError:  # Windows: another drive
        return path.resolve().as_uri()
    return quote(Path(rel).as_posix())


def _folder_of(path: str, roots: Sequence[str]) -> str:
    """The file's folder relative to the library root holding it (``.`` at the root; the
    root's name in front when the library has several roots)."""
    p = os.path.abspath(path)
    for root in sorted(roots, key=len, reverse=True):
        root = os.path.abspath(root)
        if p == root or p.startswith(root.rstrip(os.sep) + os.sep):
            rel = os.path.relpath(os.path.dirname(p), root)
            rel = Path(rel).as_posix()
            if len(roots) > 1:
                rel = Path(root).name if rel == "." else f"{Path(root).name}/{rel}"
            return rel
    return Path(os.path.dirname(p)).as_posix()


def map_data(
    library,
    xy: np.ndarray,
    html_dir: str | Path,
    *,
    embed_audio: bool = False,
    embed_max_bytes: int = EMBED_MAX_BYTES,
) -> dict:
    """The page's data: per entry its name, folder, onset, audio source and map position;
    the folders in legend order with their colours."""
    paths = list(library.paths)
    folders = [_folder_of(p, library.roots) for p in paths]
    order = sorted(set(folders))
    colours = {f: PALETTE[i % len(PALETTE)] for i, f in enumerate(order)}
    srcs: dict[str, str] = {}
    for p in paths:
        if p not in srcs:
            srcs[p] = audio_src(p, html_dir, embed=embed_audio, embed_max_bytes=embed_max_bytes)
    return {
        "names": [Path(p).name for p in paths],
        "folders": folders,
        "onsets": [round(float(o), 4) for o in library.onsets],
        "src": [srcs[p] for p in paths],
        "x": [float(v) for v in xy[:, 0]],
        "y": [float(v) for v in xy[:, 1]],
        "legend": [{"folder": f, "colour": colours[f]} for f in order],
    }


def _figure(data: dict, title: str):
    import plotly.graph_objects as go

    folders = np.asarray(data["folders"], dtype=object)
    fig = go.Figure()
    for item in data["legend"]:
        ids = np.flatnonzero(folders == item["folder"])
        fig.add_trace(
            go.Scattergl(
                x=[data["x"][i] for i in ids],
                y=[data["y"][i] for i in ids],
                mode="markers",
                name=item["folder"],
                marker={"color": item["colour"], "size": 7, "opacity": 0.85},
                customdata=ids.tolist(),
                text=[data["names"][i] for i in ids],
                hovertemplate="%{text}<extra>" + html.escape(item["folder"]) + "</extra>",
            )
        )
    fig.update_layout(
        title=title,
        template="plotly_white",
        hovermode="closest",
        legend={"title": {"text": "folder"}, "itemsizing": "constant"},
        margin={"l": 20, "r": 20, "t": 50, "b": 20},
        clickmode="event",
    )
    fig.update_xaxes(showticklabels=False, title=None)
    fig.update_yaxes(showticklabels=False, title=None, scaleanchor="x")
    return fig


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
  html, body {{ margin: 0; height: 100%; font-family: sans-serif; }}
  #bar {{ display: flex; gap: 1em; align-items: center; padding: 6px 12px;
          border-bottom: 1px solid #ddd; }}
  #now {{ color: #444; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
  #map {{ height: calc(100% - 60px); }}
</style>
</head>
<body>
<div id="bar">
  <audio id="player" controls preload="none"></audio>
  <span id="now">{hint}</span>
</div>
<div id="map-wrap" style="height: calc(100% - 60px)">{plot}</div>
<script type="application/json" id="samplevae-data">{data}</script>
<script>
(function () {{
  const data = JSON.parse(document.getElementById("samplevae-data").textContent);
  const player = document.getElementById("player");
  const now = document.getElementById("now");
  // what was clicked, and which files started playing / played to the end (for tests)
  const state = {{ data: data, player: player, clicked: [], playing: [], ended: [] }};
  window.samplevaeMap = state;
  player.addEventListener("playing", function () {{ state.playing.push(player.currentSrc); }});
  player.addEventListener("ended", function () {{ state.ended.push(player.currentSrc); }});
  function play(i) {{
    const onset = data.onsets[i] || 0;
    now.textContent = data.folders[i] + " / " + data.names[i] +
      (onset ? " @ " + onset.toFixed(2) + " s" : "");
    player.src = data.src[i];
    const start = function () {{
      if (onset) {{ player.currentTime = onset; }}
      const p = player.play();
      if (p && p.catch) {{ p.catch(function (e) {{ now.textContent += " (" + e.message + ")"; }}); }}
    }};
    if (onset) {{ player.addEventListener("loadedmetadata", start, {{ once: true }}); player.load(); }}
    else {{ start(); }}
    state.clicked.push(i);
  }}
  state.play = play;
  const gd = document.getElementById("{div_id}");
  gd.on("plotly_click", function (ev) {{
    if (ev && ev.points && ev.points.length) {{ play(ev.points[0].customdata); }}
  }});
}})();
</script>
</body>
</html>
"""


def write_map(
    library,
    out: str | Path,
    *,
    embed_audio: bool = False,
    method: str = "umap",
    seed: int = 0,
    title: str | None = None,
    embed_max_bytes: int = EMBED_MAX_BYTES,
) -> Path:
    """Write the HTML map of ``library`` to ``out`` (atomically); returns its path.

    Parameters
    ----------
    library : a :class:`~samplevae.library.Library` with at least one entry
    embed_audio : inline files up to ``embed_max_bytes`` as ``data:`` URLs (the page then
        plays them wherever it is opened); otherwise the audio is referenced by its path
        relative to ``out``
    method, seed : the 2-D projection (:func:`samplevae.projection.project_2d`)
    """
    out = Path(out)
    if len(library) == 0:
        raise SampleVAEError(f"library {library.roots} has no usable entries to map")
    if out.is_dir():
        raise SampleVAEError(f"--out {str(out)!r} is a folder; give an .html file name")
    if not out.parent.is_dir():
        raise SampleVAEError(
            f"cannot write {str(out)!r}: folder {str(out.parent)!r} does not exist"
        )
    proj = project_2d(library.embeddings, method=method, seed=seed)
    data = map_data(
        library, proj.xy, out.parent, embed_audio=embed_audio, embed_max_bytes=embed_max_bytes
    )
    n_files = len(set(library.paths))
    title = title or (
        f"{', '.join(Path(r).name for r in library.roots)}: {len(library)} "
        f"sounds from {n_files} files ({proj.note or proj.method})"
    )
    div_id = "map"
    plot = _figure(data, html.escape(title)).to_html(
        full_html=False,
        include_plotlyjs=True,
        div_id=div_id,
        config={"responsive": True, "displaylogo": False},
        default_height="100%",
    )
    # JSON in a <script> element: "</" would end the element early.
    payload = json.dumps(data).replace("</", "<\\/")
    page = _PAGE.format(
        title=html.escape(title),
        plot=plot,
        data=payload,
        div_id=div_id,
        hint=html.escape(f"{len(library)} sounds: click a point to play it"),
    )
    atomic_write_text(out, page)
    return out
