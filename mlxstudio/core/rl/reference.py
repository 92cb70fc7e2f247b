"""The frozen reference policy, without a second copy of the model.

The reference is the policy as training started: the base model with the adapters it
started from. Only the trainable parameters change during training, so keeping their
starting values and swapping them in for one forward pass gives the reference exactly.
For a fresh LoRA / DoRA adapter that is the base with the adapter switched off (lora_b
starts at zero) and costs the adapter's size; from an SFT run's adapter it is the SFT
policy; for full fine-tuning it costs a copy of the unfrozen layers only.
"""

from __future__ import annotations

from mlxstudio.core.rl.logprobs import frozen_logprobs


class Reference:
    def __init__(self, model) -> None:
        import mlx.core as mx
        from mlx.utils import tree_map

        self.model = model
        # a real copy: the optimizer replaces arrays, but be safe against in-place updates
        self.start = tree_map(lambda a: mx.array(a), model.trainable_parameters())
        mx.eval(self.start)

    def token_logprobs(self, tokens, temperature: float = 1.0, mask=None, chunk: int | None = None):
        """[B, T-1] token log-probs of the reference policy (no gradient), `chunk` rows at
        a time when given."""
        current = self.model.trainable_parameters()
        self.model.update(self.start)
        try:
            return frozen_logprobs(self.model, tokens, temperature, mask, chunk)
        finally:
            self.model.update(current)
