"""The child-process protocol: progress is thinned out in time, but a new phase's words
always reach the window (publishing used to show "Creating the repo" through the upload)."""

from __future__ import annotations

import multiprocessing

from mlxstudio.core.child import run_child


def phases(progress) -> str:
    for i in range(200):  # a fast phase: most of these are thinned out
        progress(i / 1000, f"Reading {i}")
    progress(0.5, "Creating the repo")
    progress(0.55, "Uploading 3 files")  # at once: no time has passed
    return "done"


def test_a_new_phase_is_sent_even_right_after_another():
    spawn = multiprocessing.get_context("spawn")
    receive, send = spawn.Pipe(duplex=False)
    process = spawn.Process(target=run_child, args=(phases, (), send))
    process.start()
    send.close()
    messages = []
    while True:
        try:
            messages.append(receive.recv())
        except EOFError:
            break
    process.join(30)
    texts = [m[2] for m in messages if m[0] == "progress"]
    assert texts[-2:] == ["Creating the repo", "Uploading 3 files"]
    assert len(texts) < 100  # the fast phase was thinned out
    assert messages[-1] == ("done", "done")
