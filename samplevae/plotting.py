"""Matplotlib figures as PNG bytes, without pyplot's global state (safe in threads)."""

from __future__ import annotations

import io

__all__ = ["figure_png", "new_figure"]


def new_figure(size: tuple[float, float], *, dpi: int = 90):
    """A matplotlib ``Figure`` on its own Agg canvas (no pyplot, no GUI backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig, *, dpi: int | None = None) -> bytes:
    """PNG bytes of a matplotlib figure (at the figure's own dpi unless ``dpi`` is given)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", **({"dpi": dpi} if dpi is not None else {}))
    return buf.getvalue()
