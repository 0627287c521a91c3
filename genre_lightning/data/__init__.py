"""Spectrogram image folders -> batches: decoding, the decoded cache, splits and folds, the DataModule."""
