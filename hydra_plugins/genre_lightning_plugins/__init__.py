"""Hydra plugins of genre-lightning (Hydra finds plugins only in the hydra_plugins namespace package)."""
