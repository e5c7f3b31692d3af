"""What every workbench widget shares: traitlets state, display delegation, a status line
and one error-reporting decorator for event handlers."""

from __future__ import annotations

import functools
import html
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import ipywidgets as w
import traitlets

from samplevae.errors import SampleVAEError

log = logging.getLogger(__name__)

#: Errors a widget shows in its status line instead of letting them vanish into the
#: front end's log console (anything else is a bug and propagates).
USER_ERRORS: tuple[type[BaseException], ...] = (SampleVAEError, OSError, ValueError)

F = TypeVar("F", bound=Callable)


class Panel(traitlets.HasTraits):
    """Base of the workbench widgets: ``.widget`` is the ipywidgets tree; the panel itself
    displays as that tree, so ``MyPanel(...)`` as the last line of a cell shows it.

    A panel is a :class:`traitlets.HasTraits`: its user-visible state (``selected``,
    ``dataset``, ``result``, ...) are traits, so ``panel.observe(callback, names="result")``
    and ``traitlets.link`` / ``traitlets.dlink`` work as with any ipywidget.
    """

    widget: w.Widget

    def __init__(self) -> None:
        super().__init__()
        self.status = w.HTML(layout=w.Layout(min_height="1.5em"))

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _ok(self, message: str) -> None:
        self.status.value = f"<span style='color:#2a6'>{html.escape(message)}</span>"

    def _info(self, message: str) -> None:
        self.status.value = f"<span style='color:#555'>{html.escape(message)}</span>"

    def _error(self, message: str | BaseException) -> None:
        log.warning("%s: %s", type(self).__name__, message)
        self.status.value = (
            f"<span style='color:#c22'><b>Error:</b> {html.escape(str(message))}</span>"
        )

    @property
    def status_text(self) -> str:
        """The status line as plain text (for tests and logs)."""
        return html.unescape(re.sub(r"<[^>]+>", "", self.status.value))


def reports_errors(handler: F) -> F:
    """Decorate a panel's event handler (a button click, a plot click, an observer): a
    :data:`USER_ERRORS` failure is logged and shown in the panel's status line, and the
    handler returns ``None``; the widget stays usable. Other exceptions are bugs and
    propagate."""

    @functools.wraps(handler)
    def reporting(self: Panel, *args, **kwargs):
        try:
            return handler(self, *args, **kwargs)
        except USER_ERRORS as e:
            self._error(e)
            return None

    return reporting  # type: ignore[return-value]


def short_name(path: str, onset: float = 0.0) -> str:
    """``folder/file.wav`` (plus ``@ 1.25 s`` for a segment that does not start at 0)."""
    p = Path(path)
    name = f"{p.parent.name}/{p.name}" if p.parent.name else p.name
    return f"{name} @ {onset:.2f} s" if onset > 0 else name


def offered_entries(
    tool, files: Sequence[str] | None = None, latent_map=None
) -> list[tuple[str, float]]:
    """``(path, onset)`` pairs a panel offers in its list: ``files`` (from 0 s), else the
    tool's library, else the map's entries, else none."""
    if files is not None:
        return [(str(f), 0.0) for f in files]
    for source in (tool.library, latent_map):
        if source is not None:
            return list(zip(source.paths, map(float, source.onsets), strict=True))
    return []


#: The plotly configuration of every figure: no "Share chart" (upload to Plotly Cloud) button
#: and no plotly logo in the toolbar.
PLOTLY_CONFIG = {"showSendToCloud": False, "displaylogo": False}


def figure_widget(*args, **kwargs):
    """A ``plotly.graph_objects.FigureWidget`` with :data:`PLOTLY_CONFIG`."""
    import plotly.graph_objects as go

    fig = go.FigureWidget(*args, **kwargs)
    fig._config = {**fig._config, **PLOTLY_CONFIG}
    return fig
