"""Export a selection of samples as a kit: a folder of copies, an SFZ instrument or a
Hydrogen drumkit.

A selection is a list of items, each one of:

* a path: the file is copied byte for byte (``.mp3`` is decoded to a 24-bit wav for the
  sfz and hydrogen formats, whose players may not read it);
* ``(path, onset, end)``: the part of a file from ``onset`` to ``end`` seconds (``end``
  ``None``: to the end of the file), written as a 24-bit wav at the file's own rate;
* ``(name, audio, sample_rate)`` with ``audio`` a numpy array: a generated sound (a blend,
  a random draw), written as a 24-bit wav named ``name``;
* a :class:`samplevae.tool.SimilarResult` (or anything with ``files`` and ``onsets``):
  its entries; an entry at onset 0 of a file the library has one entry for is the whole
  file, other entries are cut from their onset to the file's next entry (pass the
  ``library``).

The originals are never moved or changed. Everything is written into a temporary folder next
to ``out_dir`` that is renamed into place at the end: an interrupted export leaves nothing
half-written. ``out_dir`` must not exist yet or be empty. Sample names are made
filesystem-safe (ASCII letters, digits, ``._-``; no spaces, so SFZ players read them) and
unique regardless of case.

* ``folder``: the samples only.
* ``sfz``: ``<name>.sfz`` and ``samples/``; one ``<region>`` per sample, mapped to one key
  each from ``first_key`` (36, C1, the General MIDI kick) upwards, played as one-shots.
* ``hydrogen``: ``drumkit.xml`` (Hydrogen 1.x drumkit format) next to the samples, one
  instrument per sample; copy the folder to ``~/.hydrogen/data/drumkits/``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from samplevae.errors import ParameterError, SampleVAEError

__all__ = [
    "ExportError",
    "KitItem",
    "ExportResult",
    "export_kit",
    "kit_items",
    "safe_name",
    "write_sfz",
    "class_selection",
    "FORMATS",
]

FORMATS = ("folder", "sfz", "hydrogen")
_NATIVE = {
    "folder": None,
    "sfz": {".wav", ".flac", ".ogg", ".aif", ".aiff"},
    "hydrogen": {".wav", ".flac", ".ogg", ".aif", ".aiff"},
}
_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}


class ExportError(SampleVAEError):
    """An export that cannot be done (names the file or folder and the reason)."""


@dataclass
class KitItem:
    """One sample of a kit: a file (whole, or ``onset``..``end`` seconds of it) or audio."""

    name: str
    source: Path | None = None
    onset: float = 0.0
    end: float | None = None
    audio: np.ndarray | None = None
    sample_rate: int | None = None

    @property
    def whole_file(self) -> bool:
        return self.source is not None and self.onset == 0.0 and self.end is None


@dataclass
class ExportResult:
    """What an export wrote: the kit folder, each sample written (in selection order), the
    kit file (``.sfz`` / ``drumkit.xml``, or None), and each sample's key (sfz)."""

    out_dir: Path
    samples: list[Path]
    kit_file: Path | None = None
    keys: list[int] = field(default_factory=list)
    sources: list[str | None] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "out_dir": str(self.out_dir),
            "samples": [str(p) for p in self.samples],
            "kit_file": str(self.kit_file) if self.kit_file else None,
            "keys": self.keys,
            "sources": self.sources,
        }


def safe_name(name: str, default: str = "sample", max_len: int = 80) -> str:
    """A filesystem-safe file name stem: ASCII letters, digits, ``.``, ``_`` and ``-``."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    text = re.sub(r"_+", "_", text)[:max_len].rstrip("._-")
    if not text:
        text = default
    if text.split(".")[0].lower() in _RESERVED:
        text = "_" + text
    return text


def kit_items(selection, *, library=None, sample_rate: int | None = None) -> list[KitItem]:
    """Normalise a selection (see the module docs) to a list of :class:`KitItem`."""
    if hasattr(selection, "files") and hasattr(selection, "onsets"):
        return _similar_items(selection, library)
    if isinstance(selection, str | Path | KitItem) or (
        isinstance(selection, tuple)
        and len(selection) == 3
        and isinstance(selection[1], np.ndarray)
    ):
        selection = [selection]
    items: list[KitItem] = []
    for x in selection:
        if isinstance(x, KitItem):
            items.append(x)
        elif hasattr(x, "files") and hasattr(x, "onsets"):  # before tuples: it is a tuple
            items += _similar_items(x, library)
        elif isinstance(x, str | Path):
            p = Path(x)
            items.append(KitItem(p.stem, source=p))
        elif isinstance(x, tuple | list) and len(x) == 3 and isinstance(x[1], np.ndarray):
            name, audio, sr = x
            sr = sr or sample_rate
            if not isinstance(sr, int | np.integer) or sr < 1000:
                raise ParameterError(
                    f"generated sound {name!r}: sample rate must be an integer "
                    f">= 1000 Hz, got {sr!r}"
                )
            items.append(
                KitItem(str(name), audio=np.asarray(x[1], dtype=np.float32), sample_rate=int(sr))
            )
        elif isinstance(x, tuple | list) and len(x) == 3:
            p, onset, end = x
            p = Path(p)
            items.append(
                KitItem(
                    f"{p.stem}_{float(onset):.3f}s",
                    source=p,
                    onset=float(onset),
                    end=None if end is None else float(end),
                )
            )
        else:
            raise ParameterError(
                f"cannot export {type(x).__name__} {x!r}: give paths, "
                "(path, onset, end), (name, audio, sample_rate) or a "
                "find_similar result"
            )
    return items


def class_selection(
    tool, cls: str, *, limit: int | None = None, batch_size: int = 256, progress: bool = False
) -> list[KitItem]:
    """The library entries of ``tool`` (a ``SoundSampleTool`` with a library and a
    classifier) that the model classifies as ``cls``, most probable first (at most
    ``limit``). Entries of segmented files are cut to their segment."""
    from tqdm.auto import tqdm

    from samplevae.errors import ModelError

    lib = tool._require_library()
    if not tool.model.has_classifier:
        raise ModelError(
            f"model {tool.model_dir.path} has no classifier: cannot select samples of class {cls!r}"
        )
    if cls not in tool.class_names:
        raise ParameterError(
            f"unknown class {cls!r}; the model's classes are {', '.join(tool.class_names)}"
        )
    c = tool.class_names.index(cls)
    paths, onsets = list(lib.paths), np.asarray(lib.onsets, dtype=np.float64)
    probs = np.zeros((len(paths), len(tool.class_names)), np.float32)
    for s in tqdm(
        range(0, len(paths), batch_size), desc=f"classifying ({cls})", disable=not progress
    ):
        feats = np.stack(
            [
                tool.features_of(p, o)
                for p, o in zip(paths[s : s + batch_size], onsets[s : s + batch_size], strict=True)
            ]
        )
        probs[s : s + len(feats)] = tool.model.predict_classes(feats)
    mine = np.flatnonzero(np.argmax(probs, axis=1) == c)
    mine = mine[np.argsort(-probs[mine, c], kind="stable")][:limit]
    from types import SimpleNamespace  # the shape of a find_similar result

    entries = SimpleNamespace(
        files=[paths[i] for i in mine], onsets=[float(onsets[i]) for i in mine]
    )
    return _similar_items(entries, lib)


def export_kit(
    selection,
    out_dir: str | Path,
    *,
    format: str = "folder",  # noqa: A002
    name: str | None = None,
    library=None,
    sample_rate: int | None = None,
    first_key: int = 36,
) -> ExportResult:
    """Write ``selection`` to ``out_dir`` as a folder of copies, an SFZ or a Hydrogen kit.

    Parameters
    ----------
    selection : paths, ``(path, onset, end)``, ``(name, audio, sample_rate)``, a
        ``find_similar`` result, or a list of these (see the module docs)
    out_dir : the kit folder to create (must not exist or be empty)
    format : ``"folder"``, ``"sfz"`` or ``"hydrogen"``
    name : the kit's name (default: ``out_dir``'s name)
    library : for ``find_similar`` results of segmented libraries: where segments end
    sample_rate : of generated sounds given without one
    first_key : MIDI key of the first sample in the SFZ

    Returns
    -------
    ExportResult

    Raises
    ------
    ExportError
        ``out_dir`` is not empty, a file cannot be read, too many samples for the keys.
    """
    if format not in FORMATS:
        raise ParameterError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    items = kit_items(selection, library=library, sample_rate=sample_rate)
    if not items:
        raise ExportError("nothing to export: the selection is empty")
    out_dir = Path(out_dir).expanduser()
    kit_name = name or out_dir.resolve().name or "kit"
    if format == "sfz" and not (0 <= first_key and first_key + len(items) - 1 <= 127):
        raise ExportError(
            f"{len(items)} samples from key {first_key} do not fit the MIDI keys "
            "0-127: export fewer or lower first_key"
        )
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ExportError(
            f"{out_dir} exists and is not an empty folder: choose a new one "
            "(an export never writes over files)"
        )
    for it in items:
        if it.source is not None and not it.source.is_file():
            raise ExportError(f"{it.source}: file not found")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        sample_dir = tmp / "samples" if format == "sfz" else tmp
        sample_dir.mkdir(exist_ok=True)
        rels = _write_samples(items, sample_dir, _NATIVE[format])
        samples_rel = [("samples/" if format == "sfz" else "") + r for r in rels]
        kit_file = keys = None
        if format == "sfz":
            keys = list(range(first_key, first_key + len(items)))
            kit_file = f"{safe_name(kit_name, 'kit')}.sfz"
            write_sfz(tmp / kit_file, samples_rel, keys, title=kit_name)
        elif format == "hydrogen":
            kit_file = "drumkit.xml"
            _write_hydrogen(tmp / kit_file, kit_name, samples_rel, [it.name for it in items])
        if out_dir.exists():
            out_dir.rmdir()  # empty (checked above): the rename replaces it
        os.replace(tmp, out_dir)
        os.chmod(out_dir, 0o777 & ~_umask())
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return ExportResult(
        out_dir,
        [out_dir / r for r in samples_rel],
        out_dir / kit_file if kit_file else None,
        keys or [],
        [str(it.source) if it.source is not None else None for it in items],
    )


def write_sfz(
    path: str | Path,
    samples: Sequence[str],
    keys: Sequence[int] | None = None,
    *,
    title: str = "kit",
    first_key: int = 36,
) -> Path:
    """Write an SFZ instrument (atomically): one one-shot ``<region>`` per sample (paths
    relative to the .sfz, forward slashes), sample ``i`` on key ``keys[i]`` (default
    ``first_key + i``)."""
    from samplevae.io import atomic_write_text

    keys = list(keys) if keys is not None else list(range(first_key, first_key + len(samples)))
    if len(keys) != len(samples):
        raise ParameterError(f"{len(keys)} keys for {len(samples)} samples")
    bad = [k for k in keys if not 0 <= int(k) <= 127]
    if bad:
        raise ExportError(f"{path}: MIDI keys must be 0-127, got {bad[:3]}")
    title = re.sub(r"[\r\n]+", " ", str(title))
    lines = [
        f"// {title}: written by samplevae export",
        "<control>",
        "<global>",
        "loop_mode=one_shot",
        "",
    ]
    for s, k in zip(samples, keys, strict=True):
        if any(c.isspace() for c in s) or "=" in s:
            raise ExportError(f"{path}: sample path {s!r} has a space or '='")
        lines.append(f"<region> sample={s} key={int(k)}")
    atomic_write_text(path, "\n".join(lines) + "\n")
    return Path(path)


# --- internals ---------------------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _similar_items(result, library) -> list[KitItem]:
    items = []
    for f, onset in zip(result.files, result.onsets, strict=True):
        p = Path(f)
        onset = float(onset)
        end = None
        whole = onset == 0.0
        if library is not None:
            entries = library.entries_of(p)
            starts = np.sort(np.asarray(library.onsets)[entries]) if entries.size else []
            later = [s for s in starts if s > onset + 1e-9]
            end = float(later[0]) if later else None
            whole = onset == 0.0 and end is None
        if whole:
            items.append(KitItem(p.stem, source=p))
        else:
            items.append(KitItem(f"{p.stem}_{onset:.3f}s", source=p, onset=onset, end=end))
    return items


def _write_samples(items: list[KitItem], folder: Path, native: set[str] | None) -> list[str]:
    """Write each item into ``folder`` under a unique safe name; return the names."""
    import soundfile as sf

    from samplevae.audio import read_audio
    from samplevae.errors import AudioLoadError

    taken: set[str] = set()
    names = []
    for it in items:
        ext = it.source.suffix.lower() if it.whole_file else ".wav"
        if it.whole_file and native is not None and ext not in native:
            ext = ".wav"
        stem = safe_name(it.name)
        fname, i = f"{stem}{ext}", 2
        while fname.lower() in taken:
            fname, i = f"{stem}_{i}{ext}", i + 1
        taken.add(fname.lower())
        dest = folder / fname
        try:
            if it.whole_file and ext == it.source.suffix.lower():
                shutil.copyfile(it.source, dest)
            elif it.audio is not None:
                a = np.asarray(it.audio, dtype=np.float32)
                if a.ndim not in (1, 2) or a.size == 0 or not np.all(np.isfinite(a)):
                    raise ExportError(
                        f"generated sound {it.name!r}: audio must be a finite "
                        f"non-empty [n] or [n, channels] array, got {a.shape}"
                    )
                sf.write(dest, a, it.sample_rate, subtype="PCM_24")
            elif it.whole_file:  # decoded (e.g. mp3 for sfz): mono at its own rate
                audio, sr = read_audio(it.source)
                sf.write(dest, audio, sr, subtype="PCM_24")
            else:
                info = sf.info(str(it.source))
                sr = info.samplerate
                start = int(round(it.onset * sr))
                stop = None if it.end is None else int(round(it.end * sr))
                audio, _ = sf.read(
                    str(it.source), start=start, stop=stop, dtype="float32", always_2d=True
                )
                if audio.shape[0] == 0:
                    raise ExportError(
                        f"{it.source}: nothing at {it.onset:.3f} s "
                        f"(the file is {info.frames / sr:.3f} s long)"
                    )
                sf.write(dest, audio, sr, subtype="PCM_24")
        except AudioLoadError as e:
            raise ExportError(str(e)) from e
        except (OSError, RuntimeError, sf.LibsndfileError) as e:
            raise ExportError(f"{it.source or it.name}: cannot export ({e})") from e
        names.append(fname)
    return names


def _write_hydrogen(path: Path, kit_name: str, samples: list[str], names: Iterable[str]) -> None:
    """A Hydrogen 1.x ``drumkit.xml``: one instrument (one layer) per sample."""
    from samplevae.io import atomic_write_text

    def tag(t: str, v) -> str:
        return f"<{t}>{escape(str(v))}</{t}>"

    inst = []
    for i, (s, n) in enumerate(zip(samples, names, strict=True)):
        inst.append(
            "    <instrument>\n"
            f"      {tag('id', i)}\n      {tag('name', n)}\n"
            "      <volume>1</volume>\n      <isMuted>false</isMuted>\n"
            "      <pan_L>1</pan_L>\n      <pan_R>1</pan_R>\n"
            "      <randomPitchFactor>0</randomPitchFactor>\n      <gain>1</gain>\n"
            "      <filterActive>false</filterActive>\n      <filterCutoff>1</filterCutoff>\n"
            "      <filterResonance>0</filterResonance>\n"
            "      <Attack>0</Attack>\n      <Decay>0</Decay>\n      <Sustain>1</Sustain>\n"
            "      <Release>1000</Release>\n"
            "      <muteGroup>-1</muteGroup>\n      <midiOutChannel>-1</midiOutChannel>\n"
            f"      {tag('midiOutNote', 36 + i if 36 + i <= 127 else 127)}\n"
            "      <instrumentComponent>\n"
            "        <component_id>0</component_id>\n        <gain>1</gain>\n"
            "        <layer>\n"
            f"          {tag('filename', s)}\n"
            "          <min>0</min>\n          <max>1</max>\n"
            "          <gain>1</gain>\n          <pitch>0</pitch>\n"
            "        </layer>\n"
            "      </instrumentComponent>\n"
            "    </instrument>"
        )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        f"  {tag('name', kit_name)}\n  <author>samplevae export</author>\n"
        "  <info></info>\n  <license>undefined license</license>\n"
        "  <componentList>\n    <drumkitComponent>\n      <id>0</id>\n"
        "      <name>Main</name>\n      <volume>1</volume>\n"
        "    </drumkitComponent>\n  </componentList>\n"
        "  <instrumentList>\n" + "\n".join(inst) + "\n  </instrumentList>\n"
        "</drumkit_info>\n"
    )
    atomic_write_text(path, xml)
