"""MLX Studio: fine-tune, evaluate and serve your own language model with MLX."""

__version__ = "0.1.0"
