"""Training scripts, one per model family, on shared modules: ``config`` (the typed options),
``common`` (the run, the data, the one error, writing the model file) and ``loop`` (gradient
training with checkpoints)."""
