"""A user reward for text-only test samples (plugged in as `text_rewards:contains_answer`)."""


def contains_answer(completions, solution, **kwargs):
    from vlmr1_cli.parsing import completion_text

    return [1.0 if str(s) in completion_text(c) else len(completion_text(c)) % 3 / 3
            for c, s in zip(completions, solution, strict=True)]
