"""Training runs: the k-fold loop, its summary, TensorBoard callbacks, and Hydra sweeps."""
