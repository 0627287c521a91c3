"""Songs -> spectrogram images: the renderer, how a dataset was rendered, and the dataset builder."""
