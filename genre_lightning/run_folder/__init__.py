"""The run folder: its layout and file names (layout.py), the training process's claim on it (lock.py),
and the records a run keeps there and a resume checks (records.py)."""
