"""lrcourse: learning-rate schedules and adaptive optimizers, from scratch in NumPy, checked against PyTorch."""
__version__ = "0.1.0"
