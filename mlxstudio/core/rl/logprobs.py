"""Tokenising prompt/response pairs and the policy's log-probabilities of responses."""

from __future__ import annotations

import functools

import numpy as np

from mlxstudio.core.train.batches import padded_length


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """The prompt as the model sees it: through the chat template when there is one."""
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "user", "content": prompt}]
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
        return list(ids) if not isinstance(ids, str) else tokenizer.encode(ids)
    return tokenizer.encode(prompt + "\n")


def encode_response(tokenizer, response: str) -> list[int]:
    """Response tokens, ending with end-of-sequence (stopping is part of the answer)."""
    ids = tokenizer.encode(response, add_special_tokens=False)
    eos = tokenizer.eos_token_id
    return ids + ([eos] if eos is not None else [])


def collate(pairs: list[tuple[list[int], list[int]]], max_seq_length: int) -> tuple:
    """(tokens [B, T], mask [B, T-1]): mask marks the targets that are response tokens.

    Too long a pair loses the start of its prompt first, then the end of its response."""
    import mlx.core as mx

    rows = []
    for prompt, response in pairs:
        response = response[: max_seq_length - 1]
        prompt = prompt[-(max_seq_length - len(response)) :]
        rows.append((prompt, response))
    longest = max(len(p) + len(r) for p, r in rows)
    width = padded_length(longest, max_seq_length)
    tokens = np.zeros((len(rows), width), np.int32)
    mask = np.zeros((len(rows), width - 1), np.float32)
    for i, (prompt, response) in enumerate(rows):
        n = len(prompt) + len(response)
        tokens[i, :n] = prompt + response
        mask[i, len(prompt) - 1 : n - 1] = 1.0  # target j is token j+1
    return mx.array(tokens), mx.array(mask)


def token_logprobs(model, tokens, temperature: float = 1.0, mask=None):
    """log p(token[j+1] | tokens[..j]) for every position: [B, T-1], under
    softmax(logits / temperature) (the distribution a sampler at that temperature draws from).
    With the targets' `mask`, positions before the first response token are 0, not computed:
    the vocabulary-sized float32 work covers the responses only (prompts are most of a row)."""
    import mlx.core as mx

    start = response_start(mask) if mask is not None else 0
    logits = _logits_from(model, tokens[:, :-1], start)
    inverse = mx.array(1.0 / temperature, mx.float32)
    picked = _selected_logprobs()(logits, tokens[:, start + 1 :], inverse)
    if start == 0:
        return picked
    return mx.concatenate([mx.zeros((tokens.shape[0], start), picked.dtype), picked], axis=1)


def _logits_from(model, inputs, start: int):
    """The model's logits at positions start.. of `inputs`. Where the model is a backbone
    then its head and nothing else (mlx-lm's llama, mistral, qwen2, qwen3), the head reads
    those positions only: the prompts' vocabulary-sized logits, and their gradient, are
    never made. Any other model computes them all and they are cut."""
    if start and getattr(model, "model_type", None) in _HEAD_LAST:
        hidden = model.model(inputs)[:, start:]
        if model.args.tie_word_embeddings:
            return model.model.embed_tokens.as_linear(hidden)
        return model.lm_head(hidden)
    return model(inputs)[:, start:]


_HEAD_LAST = ("llama", "mistral", "qwen2", "qwen3")  # Model.__call__: head(model(inputs))


def response_start(mask) -> int:
    """The first position any row of `mask` [B, T-1] marks as a response target."""
    marked = np.array(mask).any(axis=0)
    return int(np.argmax(marked)) if marked.any() else 0


@functools.cache
def _selected_logprobs():
    import mlx.core as mx

    # Compiled, the float32 upcast and the temperature fuse into one vocabulary-sized
    # float32 array, not two. logsumexp stays MLX's own kernel: a hand-written
    # log(sum(exp(x - max))) rounded differently per batch shape, so a batch split over two
    # ranks no longer matched one process.
    @mx.compile
    def selected(logits, targets, inverse_temperature):
        logits = logits.astype(mx.float32) * inverse_temperature
        picked = mx.take_along_axis(logits, targets[..., None], axis=-1).squeeze(-1)
        return picked - mx.logsumexp(logits, axis=-1)

    return selected


def frozen_logprobs(model, tokens, temperature: float = 1.0, mask=None, chunk: int | None = None):
    """Token log-probs without dropout and without a gradient (old / reference policies);
    `chunk` rows at a time when given (each chunk's logits freed before the next)."""
    import mlx.core as mx

    rows = tokens.shape[0]
    chunk = chunk or rows
    training = model.training
    model.eval()
    try:
        parts = []
        for i in range(0, rows, chunk):
            part = None if mask is None else mask[i : i + chunk]
            parts.append(token_logprobs(model, tokens[i : i + chunk], temperature, part))
            mx.eval(parts[-1])
    finally:
        model.train(training)
    out = parts[0] if len(parts) == 1 else mx.concatenate(parts, axis=0)
    mx.eval(out)
    return mx.stop_gradient(out)


def with_response_logprobs(base, mask, rows: list[list[float] | None]):
    """`base` [B, T-1] with each row's response positions overwritten by the log-probs in
    `rows` (one per response token, in order; None or a short list keeps base's values
    for the rest). Positions are collate's: response tokens are the mask's first 1s."""
    import mlx.core as mx

    if not any(rows):
        return base
    out = np.array(base, dtype=np.float32)
    m = np.array(mask) > 0
    for i, values in enumerate(rows):
        if not values or not m[i].any():
            continue
        start = int(np.argmax(m[i]))
        n = min(len(values), int(m[i].sum()))  # a truncated response keeps its first n
        out[i, start : start + n] = values[:n]
    return mx.array(out)
