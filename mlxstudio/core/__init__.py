"""The app's model: pure Python + MLX. Nothing below here imports Qt."""
