"""BlendGenerator: blend samples in latent space with weight sliders and listen to the result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as w
import numpy as np
import traitlets

from ._audio import PlayerSlot
from ._base import Panel, offered_entries, reports_errors, short_name
from ._spectrogram import show_spectrogram, spectrogram_image

__all__ = ["Blend", "BlendGenerator"]


@dataclass(eq=False)
class Blend:
    """A sample made by a :class:`BlendGenerator` (its :attr:`~BlendGenerator.result`).

    Attributes
    ----------
    name : "blend k" or "random k"
    audio : np.ndarray [shape=(n_samples,)], float32 at ``sample_rate`` Hz
    z : np.ndarray [shape=(latent_dim,)], the decoded latent point
    sample_rate : Hz
    sources : ``(path, onset, weight)`` of each blended sample (empty: a random point)
    variance, seed : the noise added to the latent point and the seed of noise and decoder
    """

    name: str
    audio: np.ndarray
    z: np.ndarray
    sample_rate: int
    sources: list[tuple[str, float, float]]
    variance: float
    seed: int


class _Source:
    def __init__(self, path: str, onset: float, weight: float, on_remove):
        self.path, self.onset = path, float(onset)
        self.name = short_name(path, onset)
        self.weight = w.FloatSlider(
            value=weight,
            min=-2.0,
            max=2.0,
            step=0.05,
            readout_format=".2f",
            continuous_update=False,
            layout=w.Layout(width="260px"),
        )
        self.remove = w.Button(description="remove", layout=w.Layout(width="70px"))
        self.remove.on_click(lambda _b: on_remove(self))
        self.row = w.HBox(
            [w.Label(self.name, layout=w.Layout(width="260px")), self.weight, self.remove]
        )


class BlendGenerator(Panel):
    """Generate a sample from a weighted blend of samples (``SoundSampleTool.generate``).

    Pick 1..N sources (from the list or from the LatentMap's selection), one weight slider
    each (negative weights subtract), normalise toggle, variance (Gaussian noise on the
    latent point), seed; Generate shows the spectrogram and plays the result, Save writes a
    wav, and the result is placed on the map as a star. With no source a random latent
    point is decoded.

    Parameters
    ----------
    tool : SoundSampleTool
    files : paths offered in the list (default: the tool's library, else the map's entries)
    latent_map : LatentMap to take selections from and place results on
    out_dir : folder Save writes into
    autoplay : start playing when a sample is generated

    Attributes
    ----------
    selected : trait, ``(path, onset)`` of the blend's sources in order; setting it (bare
        paths are read from 0 s) replaces the source rows, keeping the weights of the sources
        that stay, new ones at 1.0
    result : trait, the last :class:`Blend` (``None`` before Generate); setting one shows,
        plays and lets Save write it
    """

    selected = traitlets.List(help="(path, onset) of the blend's sources")
    result = traitlets.Instance(Blend, allow_none=True, help="the last generated sample")

    def __init__(
        self,
        tool,
        *,
        files: Sequence[str] | None = None,
        latent_map=None,
        out_dir: str | Path = ".",
        autoplay: bool = True,
    ):
        super().__init__()
        self.tool = tool
        self.latent_map = latent_map
        self.out_dir = Path(out_dir)
        self.entries = entries = offered_entries(tool, files, latent_map)
        self.sources: list[_Source] = []
        self.saved: list[Path] = []
        self._count = 0

        self.choose = w.Dropdown(
            options=[(short_name(p, o), i) for i, (p, o) in enumerate(entries)],
            description="sample",
            layout=w.Layout(width="420px"),
        )
        self.add_button = w.Button(description="add", icon="plus")
        self.add_button.on_click(self._on_add)
        self.from_map = w.Button(
            description="add map selection",
            icon="map-marker",
            disabled=latent_map is None,
            layout=w.Layout(width="170px"),
        )
        self.from_map.on_click(self._on_from_map)
        self.rows = w.VBox()
        self.normalize = w.Checkbox(value=True, description="normalise weights (sum to 1)")
        self.variance = w.FloatSlider(
            value=0.0, min=0.0, max=2.0, step=0.05, description="variance", continuous_update=False
        )
        self.seed = w.IntText(value=0, description="seed", layout=w.Layout(width="160px"))
        self.place_on_map = w.Checkbox(
            value=latent_map is not None, description="place on map", disabled=latent_map is None
        )
        self.generate_button = w.Button(
            description="Generate", button_style="primary", icon="magic"
        )
        self.generate_button.on_click(self._on_generate)
        self.filename = w.Text(
            value=self._next_name(), description="save as", layout=w.Layout(width="320px")
        )
        self.save_button = w.Button(description="Save", icon="save", disabled=True)
        self.save_button.on_click(self._on_save)
        self.player = PlayerSlot(autoplay=autoplay)
        self.spectrogram = spectrogram_image()
        self.widget = w.VBox(
            [
                w.HTML(
                    "<b>Blend generator</b> — weights may be negative; no source = a random point"
                ),
                w.HBox([self.choose, self.add_button, self.from_map]),
                self.rows,
                w.HBox([self.normalize, self.variance, self.seed]),
                w.HBox([self.generate_button, self.place_on_map, self.filename, self.save_button]),
                self.status,
                w.HBox([self.spectrogram, self.player.box]),
            ]
        )
        self.widget.add_class("samplevae-blend-generator")

    # --- sources ----------------------------------------------------------------------------

    def add_source(self, path: str, onset: float = 0.0, weight: float = 1.0) -> None:
        """Add a sample to the blend with a weight slider."""
        self._set_sources([*self.sources, _Source(str(path), onset, weight, self.remove_source)])

    def remove_source(self, src) -> None:
        """Remove a source (a ``_Source`` or its index)."""
        if isinstance(src, int):
            src = self.sources[src]
        self._set_sources([s for s in self.sources if s is not src])

    def _set_sources(self, sources: list[_Source]) -> None:
        self.sources = sources
        self.rows.children = tuple(s.row for s in sources)
        self.selected = [(s.path, s.onset) for s in sources]

    @traitlets.validate("selected")
    def _valid_selected(self, proposal) -> list[tuple[str, float]]:
        return [
            (str(x), 0.0) if isinstance(x, str | Path) else (str(x[0]), float(x[1]))
            for x in proposal.value
        ]

    @traitlets.observe("selected")
    def _on_selected(self, change) -> None:
        if change.new == [(s.path, s.onset) for s in self.sources]:
            return  # set by add_source / remove_source
        pool: dict[tuple[str, float], list[_Source]] = {}
        for s in self.sources:
            pool.setdefault((s.path, s.onset), []).append(s)
        self._set_sources(
            [
                pool[key].pop(0) if pool.get(key) else _Source(*key, 1.0, self.remove_source)
                for key in change.new
            ]
        )

    @property
    def weights(self) -> list[float]:
        return [s.weight.value for s in self.sources]

    @property
    def audio(self) -> np.ndarray | None:
        """The last generated audio ``[n_samples]`` (``None`` before Generate)."""
        return None if self.result is None else self.result.audio

    @property
    def z(self) -> np.ndarray | None:
        """The latent point of the last generated sample."""
        return None if self.result is None else self.result.z

    def _on_add(self, _button) -> None:
        if self.choose.value is not None:
            self.add_source(*self.entries[self.choose.value])

    def _on_from_map(self, _button) -> None:
        picked = self.latent_map.selected_paths if self.latent_map is not None else []
        if not picked:
            self._error(
                "nothing selected on the map: click a point (shift-click adds) or lasso some"
            )
            return
        have = {(s.path, s.onset) for s in self.sources}
        new = [(p, o) for p, o in picked if (p, o) not in have]
        for p, o in new:
            self.add_source(p, o)
        self._info(
            f"added {len(new)} sample(s) from the map"
            + (
                f" ({len(picked) - len(new)} already in the blend)"
                if len(new) < len(picked)
                else ""
            )
        )

    # --- generation -------------------------------------------------------------------------

    def generate(self) -> np.ndarray:
        """Blend, decode and show/play; returns the audio ``[n_samples]`` at the model's rate."""
        targets = [
            s.path if s.onset == 0 else self.tool.embed(s.path, s.onset) for s in self.sources
        ]
        seed = int(self.seed.value)
        z = self.tool.blend(
            targets,
            self.weights,
            normalize_weights=self.normalize.value,
            variance=float(self.variance.value),
            seed=seed,
        )
        audio = self.tool.decode(z, seed=seed)
        sr = self.tool.audio_params.sample_rate
        self._count += 1
        name = f"blend {self._count}" if self.sources else f"random {self._count}"
        self.result = Blend(
            name,
            audio,
            z,
            sr,
            [(s.path, s.onset, s.weight.value) for s in self.sources],
            float(self.variance.value),
            seed,
        )
        if self.latent_map is not None and self.place_on_map.value:
            self.latent_map.add_generated(z, audio, sr, name)
        parts = (
            ", ".join(f"{s.name} x {s.weight.value:+.2f}" for s in self.sources) or "random point"
        )
        self._ok(f"{name}: {parts}; variance {self.variance.value:.2f}, seed {seed}")
        return audio

    @traitlets.observe("result")
    def _on_result(self, change) -> None:
        blend: Blend | None = change.new
        self.save_button.disabled = blend is None
        if blend is not None:
            self.player.play(blend.audio, blend.sample_rate)
            show_spectrogram(
                self.spectrogram, self.tool.audio_params, audio=blend.audio, title=blend.name
            )

    @reports_errors
    def _on_generate(self, _button) -> None:
        self.generate()

    # --- saving -----------------------------------------------------------------------------

    def _next_name(self) -> str:
        k = 1
        while (self.out_dir / f"generated_{k:03d}.wav").exists():
            k += 1
        return f"generated_{k:03d}.wav"

    def save(self, filename: str | Path | None = None, *, overwrite: bool = False) -> Path:
        """Write the last generated sample as a wav (relative names go into ``out_dir``)."""
        from samplevae.audio import write_wav

        if self.audio is None:
            raise ValueError("nothing generated yet: press Generate first")
        path = Path(filename or self.filename.value)
        if not path.is_absolute():
            path = self.out_dir / path
        if path.suffix.lower() != ".wav":
            path = path.with_suffix(".wav")
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists: choose another name")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav(path, self.audio, self.result.sample_rate)
        self.saved.append(path)
        self.filename.value = self._next_name()
        self._ok(f"saved {path}")
        return path

    @reports_errors
    def _on_save(self, _button) -> None:
        self.save()
