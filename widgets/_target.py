"""Choosing one sample: a library entry, a path typed in, or an uploaded file."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as w

from samplevae.audio import AUDIO_EXTENSIONS
from samplevae.errors import AudioLoadError

from ._base import short_name


@dataclass(frozen=True)
class Choice:
    """A chosen sample: ``path`` read from ``onset`` seconds; ``label`` for display."""

    path: str
    onset: float
    label: str


class TargetPicker:
    """Library entry / path / upload selector. ``.widget`` displays it, :meth:`choice` reads it.

    Parameters
    ----------
    entries : ``(path, onset)`` pairs offered in the library list (may be empty)
    """

    def __init__(self, entries: Sequence[tuple[str, float]] = (), *, description: str = "sample"):
        self.entries = [(str(p), float(o)) for p, o in entries]
        modes = (["library"] if self.entries else []) + ["path", "upload"]
        self.mode = w.ToggleButtons(
            options=modes, value=modes[0], description=description, style={"button_width": "80px"}
        )
        self.library = w.Dropdown(
            options=[(short_name(p, o), i) for i, (p, o) in enumerate(self.entries)],
            layout=w.Layout(width="420px"),
        )
        self.path = w.Text(placeholder="/path/to/sample.wav", layout=w.Layout(width="420px"))
        self.upload = w.FileUpload(accept=",".join(sorted(AUDIO_EXTENSIONS)), multiple=False)
        self._upload_dir: tempfile.TemporaryDirectory | None = None
        self._inputs = {"library": self.library, "path": self.path, "upload": self.upload}
        self._slot = w.Box(children=(self._inputs[self.mode.value],))
        self.mode.observe(self._on_mode, names="value")
        self.widget = w.VBox([self.mode, self._slot])

    def _on_mode(self, change) -> None:
        self._slot.children = (self._inputs[change["new"]],)

    def select_entry(self, index: int) -> None:
        """Choose library entry ``index``."""
        self.mode.value = "library"
        self.library.value = index

    def choice(self) -> Choice:
        """The chosen sample.

        Raises
        ------
        AudioLoadError
            Nothing chosen, a typed path that does not exist, or an upload that is not audio.
        """
        mode = self.mode.value
        if mode == "library":
            if self.library.value is None:
                raise AudioLoadError("(library)", "no library entry chosen")
            p, o = self.entries[self.library.value]
            return Choice(p, o, short_name(p, o))
        if mode == "path":
            text = self.path.value.strip()
            if not text:
                raise AudioLoadError("(path)", "type the path of a sample")
            p = Path(text).expanduser()
            if not p.is_file():
                raise AudioLoadError(p, "no such file")
            return Choice(str(p), 0.0, short_name(str(p)))
        if not self.upload.value:
            raise AudioLoadError("(upload)", "no file uploaded")
        item = self.upload.value[0]
        name = re.sub(r"[^\w.\-]", "_", Path(item["name"]).name) or "upload.wav"
        if Path(name).suffix.lower() not in AUDIO_EXTENSIONS:
            raise AudioLoadError(
                item["name"], f"not an audio file extension ({', '.join(sorted(AUDIO_EXTENSIONS))})"
            )
        if self._upload_dir is None:
            self._upload_dir = tempfile.TemporaryDirectory(prefix="samplevae_upload_")
        dest = Path(self._upload_dir.name) / name
        dest.write_bytes(bytes(item["content"]))
        return Choice(str(dest), 0.0, f"uploaded {item['name']}")
