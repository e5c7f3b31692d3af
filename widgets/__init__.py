"""Jupyter widgets (ipywidgets 8 + plotly FigureWidget) of the SampleVAE Workbench.

Each widget is built on the ``samplevae`` API (no model logic here), has a ``.widget``
(the ipywidgets tree) and displays itself when it is the last expression of a cell. Its
state is traitlets — ``selected`` (LatentMap, BlendGenerator), ``dataset`` (DatasetBuilder,
TrainingMonitor), ``result`` (BlendGenerator, SimilarityBrowser, ClassifierPanel,
TrainingMonitor), ``running`` (TrainingMonitor) — to ``observe()`` and ``traitlets.link()``.
"""

from widgets.blend_generator import Blend, BlendGenerator
from widgets.classifier_panel import ClassifierPanel, Prediction
from widgets.dataset_builder import DatasetBuilder
from widgets.latent_map import LatentMap, project_2d
from widgets.similarity_browser import SimilarityBrowser
from widgets.training_monitor import TrainingMonitor

__all__ = [
    "DatasetBuilder",
    "TrainingMonitor",
    "LatentMap",
    "BlendGenerator",
    "SimilarityBrowser",
    "ClassifierPanel",
    "project_2d",
    "Blend",
    "Prediction",
]
