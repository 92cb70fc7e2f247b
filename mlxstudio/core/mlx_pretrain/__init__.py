"""MLX-Pretrain's workflow as written: its config files translated to RunConfig (configs.py,
schema.py, rl.py) and the files it leaves in a run (files.py). Above core/train and core/rl:
it reads both, they know nothing of it."""
