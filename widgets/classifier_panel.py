"""ClassifierPanel: a sample in, the model's class probabilities out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ipywidgets as w
import numpy as np
import plotly.graph_objects as go
import traitlets

from widgets._base import figure_widget

from ._audio import PlayerSlot
from ._base import Panel, offered_entries, reports_errors
from ._target import Choice, TargetPicker

__all__ = ["ClassifierPanel", "Prediction"]


@dataclass(eq=False)
class Prediction:
    """A classified sample (the :attr:`~ClassifierPanel.result` of a ClassifierPanel).

    Attributes
    ----------
    choice : the sample (path, onset, label)
    probabilities : np.ndarray [shape=(n_classes,)], in the order of ``tool.class_names``
    class_name : the most probable class
    """

    choice: Choice
    probabilities: np.ndarray
    class_name: str


class ClassifierPanel(Panel):
    """Classify a sample (``SoundSampleTool.predict``): a bar chart of class probabilities.

    Parameters
    ----------
    tool : SoundSampleTool of a model trained with classes
    files : paths offered in the list (default: the tool's library, if any)
    latent_map : LatentMap whose clicks are classified at once
    autoplay : start playing the classified sample

    Attributes
    ----------
    result : trait, the last :class:`Prediction` (``None`` before the first); setting one
        draws its bars
    """

    result = traitlets.Instance(Prediction, allow_none=True, help="the last classification")

    def __init__(self, tool, *, files=None, latent_map=None, autoplay: bool = True):
        super().__init__()
        if not tool.class_names:
            raise ValueError(
                "ClassifierPanel needs a model trained with classes "
                "(a dataset made with classes=True)"
            )
        self.tool = tool
        self.latent_map = latent_map
        self.picker = TargetPicker(offered_entries(tool, files), description="sample")
        self.classify_button = w.Button(description="Classify", button_style="primary", icon="tags")
        self.classify_button.on_click(self._on_classify)
        names = list(tool.class_names)
        self.figure = figure_widget(
            data=[
                go.Bar(
                    x=names,
                    y=np.zeros(len(names)),
                    marker_color=["#9ecae1"] * len(names),
                    hovertemplate="%{x}: %{y:.3f}<extra></extra>",
                )
            ],
            layout=go.Layout(
                width=560,
                height=300,
                margin=dict(l=40, r=10, t=40, b=80),
                yaxis=dict(range=[0, 1], title="probability"),
                title=dict(text="class probabilities", font=dict(size=13)),
                template="plotly_white",
            ),
        )
        self.prediction = w.HTML()
        self.player = PlayerSlot(autoplay=autoplay)
        if latent_map is not None:
            latent_map.on_select(self._on_map_select)
        self.widget = w.VBox(
            [
                w.HTML("<b>Classifier</b>"),
                self.picker.widget,
                self.classify_button,
                self.status,
                w.HBox([self.figure, w.VBox([self.prediction, self.player.box])]),
            ]
        )
        self.widget.add_class("samplevae-classifier-panel")

    def classify(self, choice: Choice | None = None) -> tuple[np.ndarray, str]:
        """Classify ``choice`` (default: the picker's); returns ``(probabilities, class_name)``."""
        choice = choice or self.picker.choice()
        probs, name = self.tool.predict(choice.path, offset=choice.onset)
        probs = np.asarray(probs, dtype=np.float64)
        self.result = Prediction(choice, probs, name)
        self.player.play_file(choice.path, choice.onset, duration=self.tool.audio_params.sample_sec)
        self._ok(f"{choice.label}: {name}")
        return probs, name

    @property
    def probabilities(self) -> np.ndarray | None:
        """Class probabilities of the last classification."""
        return None if self.result is None else self.result.probabilities

    @property
    def predicted(self) -> str | None:
        """The class name of the last classification."""
        return None if self.result is None else self.result.class_name

    @traitlets.observe("result")
    def _on_result(self, change) -> None:
        p: Prediction | None = change.new
        if p is None:
            return
        probs, best = p.probabilities, int(np.argmax(p.probabilities))
        with self.figure.batch_update():
            bar = self.figure.data[0]
            bar.y = probs
            bar.marker.color = ["#d62728" if i == best else "#9ecae1" for i in range(len(probs))]
            self.figure.layout.title.text = f"{p.choice.label}: {p.class_name} ({probs[best]:.2f})"
        folder = Path(p.choice.path).parent.name
        hint = (
            f"<br><small>its folder says <b>{folder}</b></small>"
            if folder in self.tool.class_names
            else ""
        )
        self.prediction.value = f"predicted <b>{p.class_name}</b> (p = {probs[best]:.2f}){hint}"

    @reports_errors
    def _on_classify(self, _button) -> None:
        self.classify()

    @reports_errors
    def _on_map_select(self, ids: list[int]) -> None:
        if len(ids) != 1:
            return
        m = self.latent_map
        choice = Choice(m.paths[ids[0]], float(m.onsets[ids[0]]), Path(m.paths[ids[0]]).name)
        if (choice.path, choice.onset) in self.picker.entries:  # keep the picker in step
            self.picker.select_entry(self.picker.entries.index((choice.path, choice.onset)))
        self.classify(choice)
