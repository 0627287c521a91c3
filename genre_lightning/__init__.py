"""Train and serve music-genre classifiers from spectrogram images."""
