"""A reward model trained by stage `reward`, scoring responses for GRPO / offline PPO.

    reward_model: learned:runs/my-reward      # or just the run directory

    from mlxstudio.core.rl.learned_reward import LearnedReward
    LearnedReward("runs/my-reward").compute_reward(["Q?"], ["A."])  # -> [float]

The base model of the run is loaded with the run's adapters (LoRA / DoRA / unfrozen blocks)
and its head; prompt + response go through the chat template exactly as in training and the
head reads the final hidden state at the response's last token. Higher is better; the scale
is the Bradley-Terry one (a difference of 1 means about 73% preference).
"""

from __future__ import annotations

import json
from pathlib import Path

from mlxstudio.core import paths
from mlxstudio.core.errors import UserError
from mlxstudio.core.rl import reward_head as rt
from mlxstudio.core.rl.reward_base import RewardModel


def learned_run_dir(spec: str) -> Path:
    """The run directory of `learned:RUN` (a path, or a run's name under runs/) or of a path.

    A job that made the spec absolute by prefixing the working directory
    ('/cwd/learned:runs/x') still names '/cwd/runs/x'."""
    head, sep, tail = spec.partition("learned:")
    if not sep:
        return Path(spec).expanduser()
    if not tail.strip():
        raise UserError("reward_model: 'learned:' needs a run directory, as learned:RUN_DIR")
    path = Path(tail).expanduser()
    if not path.is_absolute() and head:
        path = Path(head) / path
    if not path.exists() and len(Path(tail).parts) == 1:
        named = paths.runs_dir() / tail  # learned:NAME of a run in the studio's runs folder
        if named.exists():
            return named
    return path


class LearnedReward(RewardModel):
    """Scores with the reward head of a stage `reward` run directory."""

    def __init__(self, run_dir: str | Path, batch_size: int = 8, max_seq_length: int = 0):
        import mlx.core as mx
        from mlx_lm.tuner.utils import linear_to_lora_layers
        from mlx_lm.utils import load

        from mlxstudio.core.train.trainable import prepare_model

        self.run_dir = Path(run_dir).expanduser().resolve()
        settings = _read_settings(self.run_dir)
        self.batch_size = max(int(batch_size), 1)
        self.max_seq_length = int(max_seq_length or settings.get("max_seq_length") or 2048)
        base = Path(settings["model"])
        if not base.exists():
            raise UserError(
                f"{self.run_dir}: its base model {base} is gone; the reward model needs it"
            )
        model, self.tokenizer = load(str(base))
        model = prepare_model(model, settings.get("compute_dtype", "auto"))
        model.freeze()
        kind = settings.get("fine_tune_type", "lora")
        if kind != "full":
            lora = settings.get("lora_parameters") or {}
            linear_to_lora_layers(model, settings["num_layers"], lora, use_dora=kind == "dora")
        rt.attach_head(model)
        self._load(model, mx)
        model.eval()
        model.freeze()
        self.model = model

    def _load(self, model, mx) -> None:
        from mlx.utils import tree_flatten

        try:
            head = mx.load(str(self.run_dir / rt.HEAD_FILE))
            adapters = mx.load(str(self.run_dir / "adapters.safetensors"))
        except Exception as err:  # noqa: BLE001 - a damaged or foreign file
            raise UserError(
                f"{self.run_dir}: cannot read the reward model's weights ({err})"
            ) from None
        weights = {k: v for k, v in adapters.items() if not k.startswith(rt.HEAD + ".")}
        weights |= {f"{rt.HEAD}.{k}": v for k, v in head.items()}
        params = dict(tree_flatten(model.parameters()))
        wrong = [k for k, v in weights.items() if k not in params or params[k].shape != v.shape]
        if wrong or f"{rt.HEAD}.weight" not in weights:
            first = wrong[0] if wrong else f"{rt.HEAD}.weight"
            raise UserError(
                f"{self.run_dir}: the reward model's weights do not fit its base model "
                f"(first: {first}); retrain it"
            )
        model.load_weights(list(weights.items()), strict=False)
        mx.eval(model.parameters())

    @property
    def name(self) -> str:
        return f"learned:{self.run_dir.name}"

    def compute_reward(self, prompts: list[str], responses: list[str]) -> list[float]:
        import mlx.core as mx

        rows = [rt.encode(self.tokenizer, p, r) for p, r in zip(prompts, responses, strict=True)]
        out: list[float] = []
        for i in range(0, len(rows), self.batch_size):
            tokens, last = rt.batch(rows[i : i + self.batch_size], self.max_seq_length)
            scores = mx.stop_gradient(rt.rewards(self.model, tokens, last))
            out.extend(scores.tolist())
        return out


def check_reward_run(run_dir: Path) -> None:
    """A reward run's settings and base are there (without loading the model)."""
    settings = _read_settings(run_dir)
    if not Path(settings.get("model", "")).exists():
        raise UserError(
            f"{run_dir}: its base model {settings.get('model')} is gone; the reward model needs it"
        )


def _read_settings(run_dir: Path) -> dict:
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such reward model run directory")
    file = run_dir / rt.REWARD_CONFIG
    if not file.is_file():
        raise UserError(
            f"{run_dir}: not a reward model run (no {rt.REWARD_CONFIG}); train one with "
            f"stage: reward"
        )
    try:
        settings = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as err:
        raise UserError(f"{file}: unreadable ({err}); retrain the reward model") from None
    if not isinstance(settings, dict) or settings.get("format") != rt.FORMAT:
        raise UserError(f"{file}: not a reward model config of this version ({rt.FORMAT})")
    return settings
