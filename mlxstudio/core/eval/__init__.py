"""Evaluation: is the fine-tuned model better than its base, and at what?

target.py        what to evaluate: a run (base vs tuned) or a model, and on which data
data.py          eval records: tokenized as in training, Q/A pairs, multiple-choice items
loss.py          masked test loss per example, and choice log-likelihoods
answers.py       greedy answers, scored against the reference by metrics.py
judge.py         an OpenAI-compatible model comparing base and tuned answers
lm_eval_tasks.py lm-eval tasks through mlx-lm's evaluate, when lm-eval is installed
report.py        one evaluation end to end; eval.json and run.json
after_run.py     the small evaluation at the end of every run
card.py          the evaluation table of a fused or exported model's README.md
"""
