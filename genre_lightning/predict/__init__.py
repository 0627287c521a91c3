"""Trained checkpoints -> genre probabilities: the fold ensemble, batched inference, reports, ONNX export."""
