"""Callbacks, one idea per module; each is built from its own file under configs/callbacks/ (Lightning's)
or configs/hydra/default.yaml (Hydra's).

Lightning's, on every fold's Trainer: figures.py (input samples, confusion matrices), progress.py (the
epoch log line and the progress bar), resume_state.py (what a stopped fold continues with),
channels_last.py (NHWC weights); and, always on, finite_loss.py (a diverged fold stops) and
moved_folder.py (a moved run folder resumes). Hydra's, around
each run and sweep: hydra.py.
"""
