"""A local model as the judge: FastChat's judge prompts through the judge's own chat template, on the hf or
vllm backend.

generate: the judge writes its explanation and rating greedily (FastChat's temperature 0; a sampling
          temperature can be given) in up to 2048 new tokens, FastChat's budget, and the rating is parsed
          with FastChat's regexes, -1 when none is written. hf or vllm.
logprob:  the judge's reply is started for it with "Rating: [[" (the format the prompt demands) and one forward
          pass reads its distribution over the ratings 1..10 at that point: the expected rating, deterministic
          and always defined (the G-Eval idea). Where "10" is two tokens ("1", "0"), P("1") is split between
          1 and 10 by P("0" | "...[[1"), read one step later, as the API judge does with top logprobs. hf only.
"""

from __future__ import annotations

import json

from sfteval.backends import CHAT_STOPS, Generator, check_backend
from sfteval.checkpoints import Checkpoint
from sfteval.config import ConfigError, RunSettings
from sfteval.judge.client import MODES, JudgeReply
from sfteval.judge.cost import FREE, Price
from sfteval.judge.parse import parse_score
from sfteval.judge.prompts import JUDGE_MAX_TOKENS, JUDGE_TEMPERATURE, JudgePrompt

RATING_PREFIX = "Rating: [["


class LocalJudge:
    def __init__(self, ckpt: Checkpoint, mode: str, settings: RunSettings, max_tokens: int = JUDGE_MAX_TOKENS,
                 backend: str = "hf", temperature: float = JUDGE_TEMPERATURE, price: Price = FREE):
        if mode not in MODES:
            raise ValueError(f"judge mode {mode!r}: use one of {', '.join(MODES)}")
        if backend != "hf" and mode == "logprob":
            raise ConfigError("--judge-mode logprob reads the judge's probabilities through the hf backend: "
                              "use --judge hf, or --judge-mode generate")
        # The judge checkpoint's own template, with the run's device, dtype and batch size.
        judge_settings = RunSettings(backend=backend, batch_size=settings.batch_size, device=settings.device,
                                     dtype=settings.dtype, chat_template="auto")
        try:
            check_backend(judge_settings)
        except ConfigError as e:  # its fix names --backend; here the option is --judge
            raise ConfigError(str(e).replace("--backend", "--judge")) from None
        self.generator, self.mode, self.max_tokens = Generator(ckpt, judge_settings), mode, max_tokens
        self.temperature, self.price = temperature, price
        self.render = self.generator.templater()  # fails now, before the run starts, when there is no template
        # A judgment cut at another length, sampled, or from another backend's numerics is another judgment:
        # the cache must not mix them.
        parts = [ckpt.hash] + ([f"backend={backend}"] if backend != "hf" else [])
        if mode == "generate":
            parts += [f"max_tokens={max_tokens}"] if max_tokens != JUDGE_MAX_TOKENS else []
            parts += [f"temperature={temperature}"] if temperature != JUDGE_TEMPERATURE else []
        self.id = ":".join(parts)

    def judge(self, prompts: list[JudgePrompt]) -> list[JudgeReply]:
        rendered = [self.render(p.messages) for p in prompts]
        if self.mode == "logprob":
            return self._expected(rendered)
        kwargs = {"until": CHAT_STOPS, "max_gen_toks": self.max_tokens, "do_sample": self.temperature > 0,
                  "temperature": self.temperature}
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
