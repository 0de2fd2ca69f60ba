"""A run as code a student can take home: the model written out as a plain ``nn.Module`` (model_code), the data,
training, evaluation and checkpoint cells (cells), the notebook, script and zip files (files), and whether a run can
be exported (ready: torch-free, for the Runs page).

Imports config, data, models and runs; never training (the page that offers the download stays light), never
Streamlit.
"""
