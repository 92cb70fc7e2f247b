"""Local models: discovery, GGUF import, the demo model."""
