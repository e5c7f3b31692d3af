"""What every workbench widget shares: display delegation and a status line."""

from __future__ import annotations

import html
import logging

import ipywidgets as w

from samplevae.errors import SampleVAEError

log = logging.getLogger(__name__)

#: Errors a widget shows in its status line instead of letting them vanish into the
#: front end's log console (anything else is a bug and propagates).
USER_ERRORS: tuple[type[BaseException], ...] = (SampleVAEError, OSError, ValueError)


class Panel:
    """Base of the workbench widgets: ``.widget`` is the ipywidgets tree; the panel itself
    displays as that tree, so ``MyPanel(...)`` as the last line of a cell shows it."""

    widget: w.Widget

    def __init__(self) -> None:
        self.status = w.HTML(layout=w.Layout(min_height="1.5em"))

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _ok(self, message: str) -> None:
        self.status.value = f"<span style='color:#2a6'>{html.escape(message)}</span>"

    def _info(self, message: str) -> None:
        self.status.value = f"<span style='color:#555'>{html.escape(message)}</span>"

    def _error(self, message: str | BaseException) -> None:
        log.warning("%s: %s", type(self).__name__, message)
        self.status.value = f"<span style='color:#c22'><b>Error:</b> {html.escape(str(message))}</span>"

    @property
    def status_text(self) -> str:
        """The status line as plain text (for tests and logs)."""
        import re

        return html.unescape(re.sub(r"<[^>]+>", "", self.status.value))


def short_name(path: str, onset: float = 0.0) -> str:
    """``folder/file.wav`` (plus ``@ 1.25 s`` for a segment that does not start at 0)."""
    from pathlib import Path

    p = Path(path)
    name = f"{p.parent.name}/{p.name}" if p.parent.name else p.name
    return f"{name} @ {onset:.2f} s" if onset > 0 else name
