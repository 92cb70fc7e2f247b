"""Training jobs on top of mlx-lm's tuner."""
