"""Jupyter widgets (ipywidgets 8 + plotly FigureWidget + anywidget) of the SampleVAE Workbench.

Each widget is built on the ``samplevae`` API (no model logic here), has a ``.widget``
(the ipywidgets tree) and displays itself when it is the last expression of a cell. Its
state is traitlets — ``selected`` (LatentMap, BlendGenerator), ``current`` and ``tray``
(SampleBrowser, LatentMap has ``current`` too), ``dataset`` (DatasetBuilder,
TrainingMonitor), ``result`` (BlendGenerator, SimilarityBrowser, ClassifierPanel,
TrainingMonitor), ``running`` (TrainingMonitor) — to ``observe()`` and ``traitlets.link()``.
"""

from widgets._dragout import DragOut
from widgets.blend_generator import Blend, BlendGenerator
from widgets.classifier_panel import ClassifierPanel, Prediction
from widgets.dataset_builder import DatasetBuilder
from widgets.duplicates_view import DuplicatesView
from widgets.latent_map import LatentMap, project_2d
from widgets.sample_browser import SampleBrowser
from widgets.similarity_browser import SimilarityBrowser
from widgets.slice_editor import SliceEditor
from widgets.training_monitor import TrainingMonitor

__all__ = [
    "DatasetBuilder",
    "TrainingMonitor",
    "LatentMap",
    "BlendGenerator",
    "SimilarityBrowser",
    "ClassifierPanel",
    "SampleBrowser",
    "DragOut",
    "DuplicatesView",
    "SliceEditor",
    "project_2d",
    "Blend",
    "Prediction",
]
