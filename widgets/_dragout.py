"""Drag a sample out of the page into a DAW, a sampler or the desktop.

:class:`DragOut` is a small anywidget: a handle that holds a file's bytes in the page and,
on ``dragstart``, puts a Chromium ``DownloadURL`` (``audio/wav:name.wav:<blob URL>``) into
the drag's ``dataTransfer``, plus ``text/uri-list`` and the file name as text. Dropping it
on a folder or a track makes the browser save exactly those bytes under that name: the
original file, byte for byte. (``DownloadURL`` is a Chromium feature; other browsers drag
the link only.)
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

import anywidget
import traitlets

from samplevae.errors import AudioLoadError

#: Files larger than this are not held in the page (the handle says so instead).
MAX_DRAG_BYTES = 50 * 1024 * 1024

_MIME = {".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg", ".ogg": "audio/ogg"}

_ESM = r"""
function render({ model, el }) {
  const handle = document.createElement("span");
  handle.className = "samplevae-drag";
  el.appendChild(handle);
  let url = null;
  const update = () => {
    if (url) { URL.revokeObjectURL(url); url = null; }
    const value = model.get("value");
    const name = model.get("filename");
    const ok = !!(value && value.byteLength && name);
    handle.draggable = ok;
    handle.textContent = model.get("label") || (ok ? "\u21f2 " + name : "");
    handle.title = ok ? "drag " + name + " into a DAW, a sampler or a folder" : "";
    handle.classList.toggle("samplevae-drag-empty", !ok);
    if (ok) {
      const bytes = value.buffer
        ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : value;
      url = URL.createObjectURL(new Blob([bytes], { type: model.get("mime") }));
      handle.dataset.url = url;
    } else {
      delete handle.dataset.url;
    }
  };
  handle.addEventListener("dragstart", (e) => {
    if (!url) { e.preventDefault(); return; }
    const name = model.get("filename");
    e.dataTransfer.effectAllowed = "copy";
    e.dataTransfer.setData("DownloadURL", model.get("mime") + ":" + name + ":" + url);
    e.dataTransfer.setData("text/uri-list", url);
    e.dataTransfer.setData("text/plain", name);
  });
  update();
  model.on("change:value", update);
  model.on("change:filename", update);
  model.on("change:label", update);
  return () => { if (url) { URL.revokeObjectURL(url); } };
}
export default { render };
"""

_CSS = """
.samplevae-drag { cursor: grab; user-select: none; padding: 1px 6px; border: 1px dashed #999;
  border-radius: 4px; font-size: 12px; color: #333; background: #f7f7f7; white-space: nowrap; }
.samplevae-drag-empty { display: none; }
"""


class DragOut(anywidget.AnyWidget):
    """A drag handle for one file: drag it out of the page to save the file there.

    Attributes
    ----------
    path : the file (set with :meth:`set_file`); ``None`` when empty
    value : the file's bytes, held in the page
    filename, mime : the name and MIME type the drop gets
    label : the handle's text (default ``⇲ <filename>``)
    """

    _esm = _ESM
    _css = _CSS
    value = traitlets.Bytes(b"").tag(sync=True)
    filename = traitlets.Unicode("").tag(sync=True)
    mime = traitlets.Unicode("audio/wav").tag(sync=True)
    label = traitlets.Unicode("").tag(sync=True)

    def __init__(self, path: str | Path | None = None, *, label: str = "", **kwargs):
        super().__init__(label=label, **kwargs)
        self.path: Path | None = None
        if path is not None:
            self.set_file(path)

    def set_file(self, path: str | Path | None) -> None:
        """Hold ``path``'s bytes for dragging (``None``: nothing, the handle hides).

        Raises
        ------
        AudioLoadError
            The file cannot be read, or is larger than :data:`MAX_DRAG_BYTES`.
        """
        if path is None:
            self.path, self.value, self.filename = None, b"", ""
            return
        p = Path(path)
        try:
            size = p.stat().st_size
            if size > MAX_DRAG_BYTES:
                raise AudioLoadError(
                    p, f"{size / 2**20:.0f} MiB is too large to drag out of the page"
                )
            data = p.read_bytes()
        except OSError as e:
            raise AudioLoadError(p, f"cannot read it for dragging: {e.strerror or e}") from e
        mime = _MIME.get(p.suffix.lower()) or mimetypes.guess_type(p.name)[0] or "audio/wav"
        self.path = p
        self.mime = mime
        self.filename = p.name
        self.value = data
