"""A user reward for text-only test samples (plugged in as `text_rewards:contains_answer`)."""


def contains_answer(completions, solution, **kwargs):
    from vlmr1_cli.parsing import completion_text

    return [
        1.0 if str(s) in completion_text(c) else len(completion_text(c)) % 3 / 3
        for c, s in zip(completions, solution, strict=True)
    ]


def stall_at(completions, solution, trainer_state=None, **kwargs):
    """Graded like `contains_answer`; blocks once the trainer reaches the step named by
    VLMR1_TEST_STALL_AT, so a test can kill the run at a known point."""
    import os
    import time

    stall = os.environ.get("VLMR1_TEST_STALL_AT")
    if stall and trainer_state is not None and trainer_state.global_step >= int(stall):
        time.sleep(600)
    return contains_answer(completions, solution)
