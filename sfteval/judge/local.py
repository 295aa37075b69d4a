"""A local model as the judge: FastChat's judge prompts through the judge's own chat template, on the hf backend.

generate: the judge writes its explanation and rating greedily (up to 2048 new tokens, FastChat's budget) and
          the rating is parsed with FastChat's regexes, -1 when none is written.
logprob:  the judge's reply is started for it with "Rating: [[" (the format the prompt demands) and one forward
          pass reads its distribution over the ratings 1..10 at that point: the expected rating, deterministic
          and always defined (the G-Eval idea). Where "10" is two tokens ("1", "0"), P("1") is split between
          1 and 10 by P("0" | "...[[1"), read one step later, as the API judge does with top logprobs.
"""

from __future__ import annotations

import json

from sfteval.backends import CHAT_STOPS, Generator
from sfteval.checkpoints import Checkpoint
from sfteval.config import RunSettings
from sfteval.judge.client import MODES, JudgeReply
from sfteval.judge.parse import parse_score
from sfteval.judge.prompts import JUDGE_MAX_TOKENS, JUDGE_TEMPERATURE, JudgePrompt

RATING_PREFIX = "Rating: [["


class LocalJudge:
    def __init__(self, ckpt: Checkpoint, mode: str, settings: RunSettings, max_tokens: int = JUDGE_MAX_TOKENS):
        if mode not in MODES:
            raise ValueError(f"judge mode {mode!r}: use one of {', '.join(MODES)}")
        # The judge checkpoint's own template, on the hf backend, with the run's device, dtype and batch size.
        judge_settings = RunSettings(backend="hf", batch_size=settings.batch_size, device=settings.device,
                                     dtype=settings.dtype, chat_template="auto")
        self.generator, self.mode, self.max_tokens = Generator(ckpt, judge_settings), mode, max_tokens
        self.render = self.generator.templater()  # fails now, before the run starts, when there is no template
        # A judgment cut at another length is another judgment: the cache must not mix them.
        cut = mode == "generate" and max_tokens != JUDGE_MAX_TOKENS
        self.id = f"{ckpt.hash}:max_tokens={max_tokens}" if cut else ckpt.hash

    def judge(self, prompts: list[JudgePrompt]) -> list[JudgeReply]:
        rendered = [self.render(p.messages) for p in prompts]
        if self.mode == "logprob":
            return self._expected(rendered)
        kwargs = {"until": CHAT_STOPS, "max_gen_toks": self.max_tokens, "do_sample": False,
                  "temperature": JUDGE_TEMPERATURE}
        texts = self.generator.generate(rendered, [kwargs] * len(rendered), chat=True)
        return [JudgeReply(text, parse_score(text) if p.output_format == "[[rating]]" else None,
                           {"prompt_tokens": self.generator.token_count(r),
                            "completion_tokens": self.generator.token_count(text)})
                for p, r, text in zip(prompts, rendered, texts)]

    def _expected(self, rendered: list[str]) -> list[JudgeReply]:
        tokenizer = self.generator.tokenizer()
        digits = {n: tokenizer.encode(str(n), add_special_tokens=False) for n in range(11)}  # "0" .. "10"
        split_ten = digits[10] == digits[1] + digits[0]
        if any(len(digits[n]) != 1 for n in range(10)) or not (split_ten or len(digits[10]) == 1):
            raise ValueError(f"{self.generator.ckpt.path}: its tokenizer does not write ratings as digit tokens")
        # candidates[n] is the token of n (0..9), then the token of 10 where "10" is a single token
        candidates = [digits[n][0] for n in range(10)] + ([] if split_ten else digits[10])
        prompts = [r + RATING_PREFIX for r in rendered]
        first, second = self.generator.next_token_probs(prompts, candidates, then=digits[1][0] if split_ten else None)
        replies = []
        for i, prompt in enumerate(prompts):
            probs = {n: first[i][n] for n in range(1, 10)}
            if split_ten:  # the "1" may begin a 10: P("0" after "1") says how much of it does
                probs[1], probs[10] = first[i][1] * (1 - second[i][0]), first[i][1] * second[i][0]
            else:
                probs[10] = first[i][10]
            score = sum(n * p for n, p in probs.items()) / sum(probs.values())
            # No text is written: the stored judgment is the distribution the score comes from.
            text = json.dumps({"prefix": RATING_PREFIX, "probs": probs})
            replies.append(JudgeReply(text, score, {"prompt_tokens": self.generator.token_count(prompt),
                                                    "completion_tokens": 0}))
        return replies
