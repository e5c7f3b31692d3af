"""A labelled benchmark of real drum one-shots from sounds that Debian packages ship.

    .venv/bin/python bench/realkits.py                 # builds bench/out/realkits
    .venv/bin/python bench/realkits.py --out DIR       # elsewhere
    .venv/bin/samplevae make-dataset --classes --data-dir DIR/train --dataset-name realkits

Sources (``apt-get download`` + ``dpkg -x`` into ``<out>/cache``; nothing else is downloaded):

- the bank-128 drum kits of ``fluid-soundfont-gm``, ``fluid-soundfont-gs``,
  ``musescore-general-soundfont-small`` and ``timgm6mb-soundfont``, rendered with the
  fluidsynth CLI (reverb and chorus off) at several velocities, 2 s from the note-on, mono
  16 kHz, peak-normalised, with the General-MIDI note map :data:`GM_NOTE_MAP`. Kits that do
  not follow that map (SFX, marching, orchestra, metronome) are left out; brush kits lose
  note 39 (a brush slap, not a clap). Identical renders are kept once (hash of the samples);
- the one-shots of ``lmms-common`` (usr/share/lmms/samples/drums) and ``exadrums``, labelled
  from their names by :func:`label_from_name`; what it cannot label with confidence is left
  out and listed.

With ``--extra-train [FAMILY ...]``, more sources join the *training* kits only (the
validation kits stay exactly as above, so figures stay comparable with the benchmark's), each
a family of its own (:data:`EXTRA_FAMILIES`; no names: all of them): the bank-128 kit of
``opl3-soundfont`` (an FM chip's drums, ``opl3``), the drum one-shots of ``sonic-pi-samples``
labelled by :func:`label_sonic_pi` (``sonicpi``), and the bank-128 kits of GeneralUser GS
1.47, a GM soundfont that ``minuet-data`` ships (``generaluser``).

Families are kept apart by more than their names: a training sound that is a near-copy of a
validation sound (:func:`near_copies`: normalised cross-correlation >= :data:`NEAR_COPY`
over the first half second, at any lag) is left out and listed.

The split is by source *family* (:data:`FAMILIES`): MuseScore General is derived from
FluidR3, so the two fluid soundfonts and MuseScore are one family and go together. By
default the ``fluidr3`` family trains, and ``timgm6mb`` + ``lmms`` + ``exadrums`` (kits the
model never hears in training) validate.

Writes ``<out>/{train,valid}/<class>/*.wav``, ``<out>/manifest.csv`` (source, family, kit,
file, class, split, note, velocity, origin, sha1), ``<out>/excluded.csv`` (what was left
out and why) and prints the class x split counts. A re-run reuses the downloads and the
renders in ``<out>/cache``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from samplevae.synth import DRUM_CLASSES  # noqa: E402

CLASSES: tuple[str, ...] = DRUM_CLASSES
SAMPLE_RATE = 16000
CLIP_SEC = 2.0
RENDER_RATE = 44100
VELOCITIES: tuple[int, ...] = (40, 70, 100, 127)
PEAK = 0.9  # every file is peak-normalised to this
SILENT_PEAK = 1e-4  # a render quieter than this (before normalising) has no sound for the note

#: General-MIDI percussion key -> class. The pedal hat (44) is left out on purpose.
GM_NOTE_MAP: dict[int, str] = {
    35: "kick",
    36: "kick",
    38: "snare",
    40: "snare",
    42: "hihat_closed",
    46: "hihat_open",
    41: "tom_low",
    43: "tom_low",
    45: "tom_mid",
    47: "tom_mid",
    48: "tom_high",
    50: "tom_high",
    39: "clap",
    37: "rim",
}

#: Debian package -> what it gives.
PACKAGES: tuple[str, ...] = (
    "fluid-soundfont-gm",
    "fluid-soundfont-gs",
    "musescore-general-soundfont-small",
    "timgm6mb-soundfont",
    "lmms-common",
    "exadrums",
)
#: More training kits (``--extra-train``): families of their own, never validation by default.
EXTRA_PACKAGES: tuple[str, ...] = (
    "opl3-soundfont",
    "sonic-pi-samples",
    "minuet-data",
)
#: Packages reserved for independent checks of the project: never used here.
FORBIDDEN_PACKAGES = frozenset(
    {"hydrogen-drumkits", "hydrogen-drumkits-effects", "hydrogen-data", "avldrums.lv2-soundfont"}
)


@dataclass(frozen=True)
class SoundFont:
    source: str  # short name used in file names and the manifest
    package: str
    path: str  # inside the package
    family: str


SOUNDFONTS: tuple[SoundFont, ...] = (
    SoundFont("FluidR3_GM", "fluid-soundfont-gm", "usr/share/sounds/sf2/FluidR3_GM.sf2", "fluidr3"),
    SoundFont("FluidR3_GS", "fluid-soundfont-gs", "usr/share/sounds/sf2/FluidR3_GS.sf2", "fluidr3"),
    SoundFont(
        "MuseScore_General_Lite",
        "musescore-general-soundfont-small",
        "usr/share/sounds/sf3/MuseScore_General_Lite.sf3",
        "fluidr3",
    ),
    SoundFont("TimGM6mb", "timgm6mb-soundfont", "usr/share/sounds/sf2/TimGM6mb.sf2", "timgm6mb"),
)
#: ``csound-soundfont``'s ``sf_GMbank.sf2`` is not among them: its kits play TimGM6mb's own
#: recordings (126 of its 197 distinct renders correlate >= 0.95 with a TimGM6mb render).
#: Nor is ``denemo-data``'s ``A320U.sf2``, for the same reason: 69 of its 216 distinct renders
#: correlate >= 0.95 with a TimGM6mb render (0.997 for its rim shots) and 11 more 0.90-0.95.
EXTRA_SOUNDFONTS: tuple[SoundFont, ...] = (
    SoundFont("OPL3_FM", "opl3-soundfont", "usr/share/sounds/sf2/OPL-3_FM_128M.sf2", "opl3"),
    SoundFont(
        "GeneralUser_GS",
        "minuet-data",
        "usr/share/minuet/soundfonts/GeneralUser-v1.47.sf2",
        "generaluser",
    ),
)
LMMS_DIR = "usr/share/lmms/samples/drums"
EXADRUMS_DIR = "usr/share/exadrums"
SONIC_PI_DIR = "usr/share/sonic-pi/samples"

#: Source -> family. Sources of one family may share recordings: they go to one split.
FAMILIES: dict[str, str] = {
    **{sf.source: sf.family for sf in SOUNDFONTS + EXTRA_SOUNDFONTS},
    "lmms": "lmms",
    "exadrums": "exadrums",
    "sonicpi": "sonicpi",
}
#: The families ``--extra-train`` can add (all of them when it names none).
EXTRA_FAMILIES: tuple[str, ...] = ("opl3", "sonicpi", "generaluser")
DEFAULT_VALID_FAMILIES: tuple[str, ...] = ("timgm6mb", "lmms", "exadrums")


# ---- rules ---------------------------------------------------------------------------------


def split_of(source: str, valid_families: Iterable[str] = DEFAULT_VALID_FAMILIES) -> str:
    """``"valid"`` when ``source``'s family is a validation family, else ``"train"``.

    Raises KeyError for a source without a family (every source must have one)."""
    return "valid" if FAMILIES[source] in set(valid_families) else "train"


_KIT_EXCLUDE = (
    (re.compile(r"sfx|effect", re.I), "sound-effects kit (not the GM drum map)"),
    (re.compile(r"marching", re.I), "marching percussion (not the GM drum map)"),
    (re.compile(r"orchestra", re.I), "orchestra kit (timpani on the tom keys, castanets on 39)"),
    (re.compile(r"metronome", re.I), "metronome (not drums)"),
    (re.compile(r"cm-64|mt-32", re.I), "the MT-32 rhythm map, not General MIDI's"),
)


def kit_exclusion(kit_name: str) -> str | None:
    """Why a bank-128 preset is not rendered with the GM map, or None to render it."""
    for pattern, reason in _KIT_EXCLUDE:
        if pattern.search(kit_name):
            return reason
    return None


def kit_note_map(kit_name: str) -> dict[int, str]:
    """The GM note map for one kit: brush kits play a brush slap on 39, not a clap."""
    notes = dict(GM_NOTE_MAP)
    if re.search(r"brush", kit_name, re.I):
        notes.pop(39)
    return notes


# File-name labelling. Compound words are joined first, then the name is split into
# lower-case alphabetic tokens ("BD_Acou_01" -> bd, acou; "hihat_closed01" -> hihat, closed).
_JOIN = (
    (re.compile(r"hi[\s_-]*hat", re.I), "hihat"),
    (re.compile(r"bass[\s_-]*drum", re.I), "bassdrum"),
    (re.compile(r"side[\s_-]*stick", re.I), "sidestick"),
    (re.compile(r"hand[\s_-]*clap", re.I), "clap"),
    (re.compile(r"rim[\s_-]*shot", re.I), "rim"),
)
#: A name with any of these is not a one-shot of our classes, whatever else it says.
BLOCK_TOKENS = frozenset(
    {
        "loop",
        "loops",
        "beat",
        "beats",
        "break",
        "fill",
        "roll",
        "groove",
        "pattern",
        "crash",
        "ride",
        "cymbal",
        "splash",
        "china",
        "bell",
        "shaker",
        "tambourine",
        "tamb",
        "cowbell",
        "conga",
        "bongo",
        "clav",
        "claves",
        "wood",
        "block",
        "zap",
        "fx",
        "sfx",
        "pedal",
        "foot",
        "reverse",
        "rev",
    }
)
KICK_TOKENS = frozenset({"kick", "bd", "bassdrum", "kik"})
SNARE_TOKENS = frozenset({"snare", "snr", "sd"})
CLAP_TOKENS = frozenset({"clap", "claps"})
RIM_TOKENS = frozenset({"rim", "sidestick"})
HAT_TOKENS = frozenset({"hihat", "hh", "hat"})
CLOSED_TOKENS = frozenset({"closed", "close", "cl"})
OPEN_TOKENS = frozenset({"open", "opened"})
TOM_TOKENS = frozenset({"tom", "toms"})
TOM_PITCH = {
    "tom_low": {"low", "lo", "floor"},
    "tom_mid": {"mid", "middle"},
    "tom_high": {"high", "hi"},
}


def name_tokens(name: str) -> list[str]:
    """Lower-case alphabetic tokens of a file or instrument name (extension dropped)."""
    stem = re.sub(r"\.(wav|ogg|flac|aiff?|mp3)$", "", name, flags=re.I)
    for pattern, joined in _JOIN:
        stem = pattern.sub(joined, stem)
    return [t for t in re.split(r"[^a-z]+", stem.lower()) if t]


def label_from_name(name: str) -> tuple[str | None, str]:
    """``(class, "")`` for a name the rules label with confidence, else ``(None, reason)``.

    Rules: a blocking word (loop, crash, ride, shaker, pedal, ...) labels nothing; kick/bd/
    bassdrum -> kick; snare/snr/sd -> snare; clap -> clap; rim/rimshot/sidestick -> rim; a hat
    word needs closed or open; tom needs low/floor, mid or high/hi. A name that matches two
    classes (``snare_rim``: a rim shot on the snare) or a class without its qualifier
    (``tom05``, ``HiHat``) is left out.
    """
    tokens = set(name_tokens(name))
    blocked = sorted(tokens & BLOCK_TOKENS)
    if blocked:
        return None, f"not a one-shot of the 9 classes ({', '.join(blocked)})"
    found: set[str] = set()
    reasons: list[str] = []
    if tokens & KICK_TOKENS:
        found.add("kick")
    if tokens & SNARE_TOKENS:
        found.add("snare")
    if tokens & CLAP_TOKENS:
        found.add("clap")
    if tokens & RIM_TOKENS:
        found.add("rim")
    if tokens & HAT_TOKENS:
        closed, opened = bool(tokens & CLOSED_TOKENS), bool(tokens & OPEN_TOKENS)
        if closed and not opened:
            found.add("hihat_closed")
        elif opened and not closed:
            found.add("hihat_open")
        else:
            reasons.append("hi-hat without closed/open")
    if tokens & TOM_TOKENS:
        pitches = [c for c, words in TOM_PITCH.items() if tokens & words]
        if len(pitches) == 1:
            found.add(pitches[0])
        else:
            reasons.append("tom without one pitch (low/floor, mid, high)")
    if len(found) == 1 and not reasons:
        return found.pop(), ""
    if len(found) > 1:
        return None, f"ambiguous: matches {', '.join(sorted(found))}"
    if reasons:
        return None, "; ".join(reasons)
    return None, "no class word in the name"


def label_exadrums(file_name: str, instrument: str | None) -> tuple[str | None, str]:
    """An exadrums sample: labelled from its kit instrument name and its file name; both must
    agree where both label (the kit names ``Tom03.wav`` the "Floor Tom" -> tom_low)."""
    by_file, why_file = label_from_name(file_name)
    by_inst, why_inst = label_from_name(instrument) if instrument else (None, "not in the kit")
    if by_file and by_inst and by_file != by_inst:
        return None, f"file name says {by_file}, kit instrument {instrument!r} says {by_inst}"
    if by_file or by_inst:
        return by_file or by_inst, ""
    return None, f"{why_file}; instrument {instrument!r}: {why_inst}" if instrument else why_file


#: Sonic Pi's own sample-name prefixes (``bd_haus``, ``sn_dub``, ``drum_bass_hard``): a
#: prefix's class, before :func:`label_from_name`'s rules read the rest.
SONIC_PI_PREFIXES: tuple[tuple[str, str], ...] = (
    ("bd_", "kick"),
    ("sn_", "snare"),
    ("drum_bass_", "kick"),
    ("drum_cymbal_closed", "hihat_closed"),
    ("drum_cymbal_open", "hihat_open"),
)


def label_sonic_pi(file_name: str) -> tuple[str | None, str]:
    """A ``sonic-pi-samples`` file: its prefix (:data:`SONIC_PI_PREFIXES`: ``bd_`` kicks,
    ``sn_`` snares, ``drum_bass_`` kicks, ``drum_cymbal_closed``/``_open`` hats), else
    :func:`label_from_name` (``drum_tom_lo_hard`` -> tom_low, ``elec_hi_snare`` -> snare)."""
    stem = file_name.lower()
    for prefix, label in SONIC_PI_PREFIXES:
        if stem.startswith(prefix):
            return label, ""
    return label_from_name(file_name)


def exadrums_instruments(kit_xml: str | bytes) -> dict[str, str]:
    """File name -> instrument name of an exadrums kit file (``Default.xml``)."""
    root = ET.fromstring(kit_xml)
    out: dict[str, str] = {}
    for inst in root.iter("Instrument"):
        name = (inst.findtext("instrumentName") or "").strip()
        for snd in inst.iter("sound"):
            if snd.text:
                out[Path(snd.text.strip()).name] = name
    return out


# ---- SoundFont presets ----------------------------------------------------------------------


def sf2_presets(data: bytes) -> list[tuple[int, int, str]]:
    """``(bank, program, name)`` of every preset in a SoundFont 2 / 3 file's ``phdr`` chunk.

    Tolerates files that leave out the RIFF pad byte after an odd-sized chunk (MuseScore's
    .sf3 does). Raises ValueError for data that is not a SoundFont."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise ValueError("not a SoundFont (no RIFF sfbk header)")

    def chunks(start: int, end: int):
        pos = start
        while pos + 8 <= end:
            cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
            yield cid, pos + 8, size
            nxt = pos + 8 + size
            if size & 1 and not _chunk_id_at(data, nxt):
                nxt += 1  # the standard pad byte after an odd-sized chunk
            pos = nxt

    for cid, body, size in chunks(12, len(data)):
        if cid == b"LIST" and data[body : body + 4] == b"pdta":
            for sid, sbody, ssize in chunks(body + 4, body + size):
                if sid == b"phdr":
                    out = []
                    for i in range(ssize // 38 - 1):  # the last record is the EOP terminal
                        rec = data[sbody + i * 38 : sbody + (i + 1) * 38]
                        name = rec[:20].split(b"\0")[0].decode("latin-1").strip()
                        program, bank = struct.unpack("<HH", rec[20:24])
                        out.append((bank, program, name))
                    return out
    raise ValueError("SoundFont without a pdta/phdr chunk")


def _chunk_id_at(data: bytes, pos: int) -> bool:
    """A plausible RIFF chunk id (4 printable ASCII bytes) at ``pos``."""
    cid = data[pos : pos + 4]
    return len(cid) == 4 and all(32 <= b < 127 for b in cid)


def drum_kits(data: bytes) -> list[tuple[int, str]]:
    """``(program, name)`` of the bank-128 presets, by program."""
    return sorted({(p, n) for b, p, n in sf2_presets(data) if b == 128})


# ---- MIDI -----------------------------------------------------------------------------------


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def midi_file(events: Sequence[tuple[int, bytes]], ticks_per_beat: int = 1000) -> bytes:
    """A format-0 Standard MIDI File; ``events`` are ``(tick, message)``, 1 tick = 1 ms."""
    track = b"\x00\xff\x51\x03" + (1_000_000).to_bytes(3, "big")  # 1 beat = 1 s
    last = 0
    for tick, msg in sorted(events, key=lambda e: e[0]):
        track += _vlq(tick - last) + msg
        last = tick
    track += b"\x00\xff\x2f\x00"
    return (
        b"MThd"
        + struct.pack(">IHHH", 6, 0, 1, ticks_per_beat)
        + b"MTrk"
        + struct.pack(">I", len(track))
        + track
    )


LEAD_MS = 100
HIT_SPACING_MS = 2500


def hit_schedule(
    notes: Sequence[int], velocities: Sequence[int] = VELOCITIES
) -> list[tuple[int, int, int]]:
    """``(onset_ms, note, velocity)`` of every hit of a kit render, in a fixed order (the same
    note and velocity sit at the same time in every kit, so identical sounds render identically)."""
    hits = []
    i = 0
    for note in sorted(GM_NOTE_MAP):
        for vel in velocities:
            if note in notes:
                hits.append((LEAD_MS + i * HIT_SPACING_MS, note, vel))
            i += 1
    return hits


def kit_midi(program: int, hits: Sequence[tuple[int, int, int]]) -> bytes:
    """Channel 10: program change to the kit, then each hit held for the clip length and cut
    with All Sound Off before the next."""
    clip_ms = int(CLIP_SEC * 1000)
    events = [(0, bytes([0xC9, program]))]
    for t, note, vel in hits:
        events += [
            (t, bytes([0x99, note, vel])),
            (t + clip_ms, bytes([0x89, note, 0])),
            (t + clip_ms, bytes([0xB9, 120, 0])),
        ]
    end = (hits[-1][0] if hits else 0) + HIT_SPACING_MS
    events.append(
        (end, bytes([0xB9, 121, 0]))
    )  # keeps the file running to the end of the last clip
    return midi_file(events)


# ---- fetching and rendering -----------------------------------------------------------------


def fetch_package(package: str, cache: Path) -> Path:
    """``apt-get download`` + ``dpkg -x`` into ``cache/pkgs/<package>`` (reused when there)."""
    if package in FORBIDDEN_PACKAGES:
        raise ValueError(f"{package} is reserved for independent checks and must not be used")
    dest = cache / "pkgs" / package
    if (dest / ".complete").is_file():
        return dest
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        print(f"apt-get download {package}", flush=True)
        r = subprocess.run(
            ["apt-get", "download", package], cwd=debs, capture_output=True, text=True
        )
        found = sorted(debs.glob(f"{package}_*.deb"))
        if r.returncode != 0 or not found:
            raise SystemExit(
                f"apt-get download {package} failed (exit {r.returncode}): "
                f"{r.stderr.strip()[-500:]}\n(run `apt-get update` first if apt knows "
                "no such package)"
            )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{package}.", dir=dest.parent))
    subprocess.run(["dpkg", "-x", str(found[-1]), str(tmp)], check=True)
    return install_dir(tmp, dest, complete=found[-1].name)


def install_dir(tmp: Path, dest: Path, *, complete: str | None = None) -> Path:
    """Put the finished folder ``tmp`` (made next to ``dest``) in ``dest``'s place, removing
    an older ``dest`` first; with ``complete``, first write it (one line) to ``tmp/.complete``,
    the marker that says the folder was finished. Returns ``dest``."""
    if complete is not None:
        (tmp / ".complete").write_text(complete + "\n")
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    return dest


def ensure_fluidsynth() -> str:
    exe = shutil.which("fluidsynth")
    if exe:
        return exe
    if os.geteuid() == 0:
        print("fluidsynth is missing: apt-get install -y fluidsynth", flush=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "fluidsynth"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        exe = shutil.which("fluidsynth")
    if not exe:
        raise SystemExit(
            "fluidsynth is needed to render the soundfont kits: sudo apt-get install fluidsynth"
        )
    return exe


def render_kit(
    fluidsynth: str, sf_path: Path, program: int, hits, out_npz: Path, midi: bytes | None = None
) -> dict:
    """Render one kit's hits; cache ``audio`` int16 [n, 32000] (peak-normalised), ``notes``,
    ``velocities`` and ``peaks`` (before normalising) in ``out_npz``. ``midi``: the MIDI file
    to render instead of the drum channel's ``kit_midi(program, hits)`` (e.g. melodic notes
    at the same ``hits`` times)."""
    from samplevae.audio import read_audio
    from samplevae.io import atomic_save_npz

    if out_npz.is_file():
        with np.load(out_npz, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    n = int(SAMPLE_RATE * CLIP_SEC)
    with tempfile.TemporaryDirectory(prefix="realkits.") as tmp:
        mid, wav = Path(tmp) / "kit.mid", Path(tmp) / "kit.wav"
        mid.write_bytes(kit_midi(program, hits) if midi is None else midi)
        cmd = [
            fluidsynth,
            "-ni",
            "-q",
            "-R",
            "0",
            "-C",
            "0",
            "-g",
            "0.5",
            "-r",
            str(RENDER_RATE),
            "-o",
            "synth.dynamic-sample-loading=1",  # loads only the kit's samples: 2x faster
            "-O",
            "float",
            "-T",
            "wav",
            "-F",
            str(wav),
            str(sf_path),
            str(mid),
        ]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0 or not wav.is_file():
            raise SystemExit(f"fluidsynth failed on {sf_path} program {program}: {r.stderr[-500:]}")
        stream, _ = read_audio(wav, sample_rate=SAMPLE_RATE)
    audio = np.zeros((len(hits), n), dtype=np.int16)
    peaks = np.zeros(len(hits), dtype=np.float32)
    for i, (t, _, _) in enumerate(hits):
        start = int(round(t * SAMPLE_RATE / 1000))
        clip = np.zeros(n, dtype=np.float32)
        seg = stream[start : start + n]
        clip[: seg.size] = seg
        peaks[i] = float(np.max(np.abs(clip))) if clip.size else 0.0
        if peaks[i] >= SILENT_PEAK:
            audio[i] = np.round(clip / peaks[i] * PEAK * 32767).astype(np.int16)
    result = {
        "audio": audio,
        "notes": np.array([h[1] for h in hits], dtype=np.int16),
        "velocities": np.array([h[2] for h in hits], dtype=np.int16),
        "peaks": peaks,
    }
    atomic_save_npz(out_npz, **result)
    return result


def one_shot(path: Path) -> tuple[np.ndarray | None, str]:
    """A package's sample as int16 [<= 32000] at 16 kHz mono, peak-normalised, or a reason."""
    from samplevae.audio import read_audio
    from samplevae.errors import AudioLoadError

    try:
        audio, _ = read_audio(path, sample_rate=SAMPLE_RATE, duration=CLIP_SEC)
    except AudioLoadError as e:
        return None, e.reason
    audio = audio[: int(SAMPLE_RATE * CLIP_SEC)]
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < SILENT_PEAK:
        return None, "silent"
    return np.round(audio / peak * PEAK * 32767).astype(np.int16), ""


# ---- assembling -----------------------------------------------------------------------------


@dataclass
class Item:
    """One labelled sound of the benchmark."""

    source: str
    kit: str
    name: str  # file name in the class folder
    label: str
    audio: np.ndarray = field(repr=False)  # int16 mono at SAMPLE_RATE
    origin: str = ""
    note: int | None = None
    velocity: int | None = None

    @property
    def sha1(self) -> str:
        return hashlib.sha1(np.ascontiguousarray(self.audio, dtype="<i2").tobytes()).hexdigest()


def deduplicate(items: Iterable[Item]) -> tuple[list[Item], list[tuple[Item, Item]]]:
    """Keep the first of every group of identical sounds; ``(kept, [(dropped, kept_twin)])``."""
    seen: dict[str, Item] = {}
    kept, dropped = [], []
    for it in items:
        h = it.sha1
        if h in seen:
            dropped.append((it, seen[h]))
        else:
            seen[h] = it
            kept.append(it)
    return kept, dropped


NEAR_COPY = 0.95  # normalised cross-correlation above which two sounds share a recording
_NEAR_COPY_SAMPLES = SAMPLE_RATE // 2


def near_copies(
    items: Sequence[Item], others: Sequence[Item], threshold: float = NEAR_COPY
) -> list[tuple[int, int, float]]:
    """``(i, j, correlation)`` for each ``items[i]`` whose best match in ``others`` (``j``)
    reaches ``threshold``: the maximum over all lags of the normalised cross-correlation of
    their first half seconds. A recording played by two kits (another envelope, level or
    start) is caught where a hash of the samples is not."""
    if not items or not others:
        return []
    n = _NEAR_COPY_SAMPLES
    size = 1 << (2 * n - 1).bit_length()  # no wrap-around: linear correlation at every lag

    def spectra(group: Sequence[Item]) -> np.ndarray:
        x = np.zeros((len(group), n), dtype=np.float32)
        for k, it in enumerate(group):
            a = it.audio[:n].astype(np.float32)
            x[k, : a.size] = a
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)
        return np.fft.rfft(x, n=size, axis=1)

    theirs = spectra(others)
    out = []
    for i, mine in enumerate(spectra(items)):
        best = np.abs(np.fft.irfft(theirs * np.conj(mine)[None], n=size, axis=1)).max(axis=1)
        j = int(best.argmax())
        if best[j] >= threshold:
            out.append((i, j, float(best[j])))
    return out


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "kit"


def write_benchmark(
    out: Path,
    items: Sequence[Item],
    excluded: Sequence[tuple[str, str, str]],
    valid_families: Iterable[str] = DEFAULT_VALID_FAMILIES,
) -> list[dict]:
    """Write the class folders, ``manifest.csv`` and ``excluded.csv``; returns the manifest rows.

    Files of earlier runs that are not in this manifest are removed from the class folders."""
    from samplevae.audio import wav_bytes
    from samplevae.io import atomic_write_bytes, atomic_write_text

    valid_families = tuple(valid_families)
    rows, wanted = [], set()
    for it in items:
        if it.label not in CLASSES:
            raise ValueError(f"{it.name}: {it.label!r} is not one of {CLASSES}")
        split = split_of(it.source, valid_families)
        rel = Path(split) / it.label / it.name
        if rel in wanted:
            raise ValueError(f"two sounds would be written to {rel}")
        wanted.add(rel)
        data = wav_bytes(it.audio.astype(np.float32) / 32767, SAMPLE_RATE)
        path = out / rel
        if not (path.is_file() and path.read_bytes() == data):
            atomic_write_bytes(path, data)
        rows.append(
            {
                "source": it.source,
                "family": FAMILIES[it.source],
                "kit": it.kit,
                "file": rel.as_posix(),
                "class": it.label,
                "split": split,
                "note": "" if it.note is None else it.note,
                "velocity": "" if it.velocity is None else it.velocity,
                "origin": it.origin,
                "sha1": it.sha1,
            }
        )
    for split in ("train", "valid"):
        for p in sorted((out / split).rglob("*.wav")) if (out / split).is_dir() else []:
            if p.relative_to(out) not in wanted:
                p.unlink()
    atomic_write_text(out / "manifest.csv", _csv(rows, list(rows[0]) if rows else ["file"]))
    atomic_write_text(
        out / "excluded.csv",
        _csv(
            [{"source": s, "item": i, "reason": r} for s, i, r in excluded],
            ["source", "item", "reason"],
        ),
    )
    return rows


def _csv(rows: Sequence[dict], fields: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def count_table(rows: Sequence[dict]) -> str:
    """Class x split counts as text."""
    counts = Counter((r["class"], r["split"]) for r in rows)
    lines = [f"{'class':<14}{'train':>7}{'valid':>7}"]
    for c in CLASSES:
        lines.append(f"{c:<14}{counts[(c, 'train')]:>7}{counts[(c, 'valid')]:>7}")
    lines.append(
        f"{'total':<14}{sum(v for (_, s), v in counts.items() if s == 'train'):>7}"
        f"{sum(v for (_, s), v in counts.items() if s == 'valid'):>7}"
    )
    return "\n".join(lines)


def collect_soundfonts(
    cache: Path,
    fluidsynth: str,
    velocities: Sequence[int],
    excluded: list,
    soundfonts: Sequence[SoundFont] = SOUNDFONTS,
) -> list[Item]:
    from tqdm.auto import tqdm

    jobs = []
    for sf in soundfonts:
        sf_path = fetch_package(sf.package, cache) / sf.path
        for program, kit in drum_kits(sf_path.read_bytes()):
            why = kit_exclusion(kit)
            if why:
                excluded.append((sf.source, f"bank 128 program {program} {kit!r}", why))
                continue
            jobs.append((sf, sf_path, program, kit))
    items = []
    for sf, sf_path, program, kit in tqdm(jobs, desc="render kits", unit="kit"):
        notes = kit_note_map(kit)
        for note in sorted(set(GM_NOTE_MAP) - set(notes)):
            excluded.append((sf.source, f"{kit} note {note}", "not this class in this kit"))
        hits = hit_schedule(notes, velocities)
        vel_key = "-".join(map(str, velocities))
        npz = cache / "renders" / sf.source / f"b128_p{program:03d}_{slug(kit)}_v{vel_key}.npz"
        r = render_kit(fluidsynth, sf_path, program, hits, npz)
        kit_slug = f"{program:03d}-{slug(kit)}"
        for audio, note, vel, peak in zip(
            r["audio"], r["notes"], r["velocities"], r["peaks"], strict=True
        ):
            name = f"{sf.source}__{kit_slug}__n{int(note)}_v{int(vel):03d}.wav"
            if peak < SILENT_PEAK:
                excluded.append((sf.source, name, "silent render (no sound on this key)"))
                continue
            items.append(
                Item(
                    sf.source,
                    f"{sf.source}/{kit}",
                    name,
                    GM_NOTE_MAP[int(note)],
                    audio,
                    origin=f"{sf.path} bank 128 program {program}",
                    note=int(note),
                    velocity=int(vel),
                )
            )
    return items


def collect_named(
    source: str, folder: Path, rel: str, labeller, excluded: list, pattern: str = "*"
) -> list[Item]:
    """The one-shots of ``folder`` (``rel`` inside its package) that ``labeller(name)``
    labels; the others go to ``excluded`` with the reason."""
    items = []
    for p in sorted(folder.glob(pattern)):
        if not p.is_file():
            continue
        label, why = labeller(p.name)
        if label is None:
            excluded.append((source, p.name, why))
            continue
        audio, why = one_shot(p)
        if audio is None:
            excluded.append((source, p.name, why))
            continue
        items.append(
            Item(source, source, f"{source}__{p.stem}.wav", label, audio, origin=f"{rel}/{p.name}")
        )
    return items


def collect_one_shots(cache: Path, excluded: list) -> list[Item]:
    lmms = fetch_package("lmms-common", cache) / LMMS_DIR
    items = collect_named("lmms", lmms, LMMS_DIR, label_from_name, excluded)
    exa = fetch_package("exadrums", cache) / EXADRUMS_DIR
    kit_xml = exa / "Default.xml"
    instruments = exadrums_instruments(kit_xml.read_bytes()) if kit_xml.is_file() else {}
    return items + collect_named(
        "exadrums",
        exa,
        EXADRUMS_DIR,
        lambda name: label_exadrums(name, instruments.get(name)),
        excluded,
        pattern="*.wav",
    )


def extra_families(chosen: Iterable[str] | bool) -> tuple[str, ...]:
    """The ``--extra-train`` families to add, in :data:`EXTRA_FAMILIES`' order: ``True`` means
    all of them, ``False`` none. Raises ValueError naming an unknown family."""
    if chosen is True:
        return EXTRA_FAMILIES
    if chosen is False:
        return ()
    chosen = set(chosen)
    unknown = sorted(chosen - set(EXTRA_FAMILIES))
    if unknown:
        raise ValueError(
            f"unknown extra training families {unknown}: choose from {list(EXTRA_FAMILIES)}"
        )
    return tuple(f for f in EXTRA_FAMILIES if f in chosen)


def collect_extra(
    cache: Path,
    fluidsynth: str,
    velocities: Sequence[int],
    excluded: list,
    families: Iterable[str] = EXTRA_FAMILIES,
) -> list[Item]:
    """The ``--extra-train`` sources of ``families``: :data:`EXTRA_SOUNDFONTS`' kits, Sonic
    Pi's one-shots."""
    families = set(families)
    fonts = [sf for sf in EXTRA_SOUNDFONTS if sf.family in families]
    items = collect_soundfonts(cache, fluidsynth, velocities, excluded, fonts)
    if "sonicpi" in families:
        sonic = fetch_package("sonic-pi-samples", cache) / SONIC_PI_DIR
        items += collect_named(
            "sonicpi", sonic, SONIC_PI_DIR, label_sonic_pi, excluded, pattern="*.flac"
        )
    return items


def build(
    out: Path,
    *,
    velocities: Sequence[int] = VELOCITIES,
    valid_families: Iterable[str] = DEFAULT_VALID_FAMILIES,
    extra_train: Iterable[str] | bool = False,
) -> list[dict]:
    """Build the benchmark in ``out``; ``extra_train``: the :data:`EXTRA_FAMILIES` to add to
    training (``True``: all). Returns the manifest's rows."""
    out = out.resolve()
    extra = extra_families(extra_train)
    valid_families = tuple(valid_families)
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    fluidsynth = ensure_fluidsynth()
    excluded: list[tuple[str, str, str]] = []
    items = collect_soundfonts(cache, fluidsynth, velocities, excluded)
    items += collect_one_shots(cache, excluded)
    if extra:  # after the benchmark's own sources: a twin of theirs is the one dropped
        items += collect_extra(cache, fluidsynth, velocities, excluded, extra)
    kept, dropped = deduplicate(items)
    for it, twin in dropped:
        excluded.append((it.source, it.name, f"identical to {twin.name}"))
    splits = [split_of(it.source, valid_families) for it in kept]
    train = [it for it, split in zip(kept, splits, strict=True) if split == "train"]
    valid = [it for it, split in zip(kept, splits, strict=True) if split == "valid"]
    copies = near_copies(train, valid)
    for i, j, corr in copies:
        excluded.append(
            (train[i].source, train[i].name, f"near-copy of {valid[j].name} ({corr:.3f})")
        )
    drop = {id(train[i]) for i, _, _ in copies}
    kept = [it for it in kept if id(it) not in drop]
    rows = write_benchmark(out, kept, excluded, valid_families)
    n_dup = len(dropped)
    print(
        f"\n{len(items)} labelled sounds, {n_dup} identical renders dropped, {len(copies)} "
        f"training sounds near-copies of validation sounds dropped, {len(rows)} written "
        f"({len(excluded) - n_dup - len(copies)} other exclusions, see {out / 'excluded.csv'})"
    )
    left_out = [(s, i, r) for s, i, r in excluded if s in ("lmms", "exadrums", "sonicpi")]
    if left_out:
        print("one-shots left out:")
        for s, i, r in left_out:
            print(f"  {s}: {i}: {r}")
    fams = sorted(set(valid_families))
    print(f"\nvalidation families: {', '.join(fams)}")
    print(count_table(rows))
    print(f"\nmanifest: {out / 'manifest.csv'}")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "out" / "realkits",
        help="benchmark folder (default bench/out/realkits)",
    )
    p.add_argument(
        "--velocities",
        type=int,
        nargs="+",
        default=list(VELOCITIES),
        help=f"note-on velocities of the renders (default {' '.join(map(str, VELOCITIES))})",
    )
    p.add_argument(
        "--valid-families",
        nargs="+",
        default=list(DEFAULT_VALID_FAMILIES),
        choices=sorted(set(FAMILIES.values())),
        help="source families held out for validation (default: %(default)s)",
    )
    p.add_argument(
        "--extra-train",
        nargs="*",
        choices=EXTRA_FAMILIES,
        metavar="FAMILY",
        default=None,
        help="add more training kits: opl3 (opl3-soundfont), sonicpi (sonic-pi-samples), "
        "generaluser (GeneralUser GS, from minuet-data); no names: all of them. "
        "The validation kits stay the same (use another --out)",
    )
    args = p.parse_args(argv)
    if not all(1 <= v <= 127 for v in args.velocities):
        p.error("velocities must be in 1..127")
    extra = () if args.extra_train is None else extra_families(args.extra_train or True)
    used = set(FAMILIES.values()) - set(EXTRA_FAMILIES) | set(extra)
    if not set(args.valid_families) <= used:
        p.error("an --extra-train family can validate only when --extra-train adds it")
    if set(args.valid_families) >= used:
        p.error("leave at least one family for training")
    build(
        args.out,
        velocities=args.velocities,
        valid_families=args.valid_families,
        extra_train=extra,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
