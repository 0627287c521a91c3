"""genre-lightning: train and serve music-genre classifiers from spectrograms (Lightning + Hydra)."""
