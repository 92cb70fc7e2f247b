"""Reinforcement learning on the training engine: offline PPO from scored data (stage rl),
GRPO with a reward function (grpo), and DPO / IPO / ORPO from preference pairs (dpo)."""
