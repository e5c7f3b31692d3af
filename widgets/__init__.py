"""Jupyter widgets (ipywidgets + plotly) of the SampleVAE Workbench, built on ``samplevae``."""
