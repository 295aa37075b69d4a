"""Reading a judge's reply: FastChat's rating regexes, the expected rating from logprobs, pairwise verdicts.

FastChat (common.run_judge_single) searches "[[N]]" first and falls back to "[N]"; a reply with neither scores
-1, and show_result leaves -1 rows out of every mean. Pairwise replies name the winner "[[A]]", "[[B]]" or
"[[C]]" (a tie), checked in that order; anything else is an "error".
"""

from __future__ import annotations

import math
import re

ONE_SCORE = re.compile(r"\[\[(\d+\.?\d*)\]\]")
ONE_SCORE_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")
RATINGS = range(1, 11)
UNPARSED = -1.0


def parse_score(judgment: str) -> float:
    """The rating in a judge's reply, or -1 when it wrote none."""
    match = ONE_SCORE.search(judgment) or ONE_SCORE_BACKUP.search(judgment)
    # float() instead of FastChat's ast.literal_eval: the same value, and "[[08]]" does not raise.
    return float(match.group(1)) if match else UNPARSED


def expected_score(content: list[dict]) -> float:
    """The judge's expected rating over 1..10 at the token where it wrote its rating (the G-Eval idea).

    `content` is OpenAI's `choices[0].logprobs.content`: one {"token", "logprob", "top_logprobs"} per generated
    token. The rating's position is found with FastChat's regexes on the generated text; the probabilities of
    the alternative tokens there that would have written another rating 1..10 give the expectation,
    renormalised over those ratings. -1 when the judge wrote no rating, as in generate mode.
    """
    text = "".join(t["token"] for t in content)
    match = ONE_SCORE.search(text) or ONE_SCORE_BACKUP.search(text)
    if not match:
        return UNPARSED
    start, pos, i = match.start(1), 0, 0
    while pos + len(content[i]["token"]) <= start:
        pos += len(content[i]["token"])
        i += 1
    prefix = text[pos:start]  # a token may carry text before the digits, e.g. "[[8": its alternatives do too
    probs = {}
    for alt in content[i]["top_logprobs"]:
        rest = alt["token"][len(prefix):].strip() if alt["token"].startswith(prefix) else ""
        if re.fullmatch(r"[0-9]+", rest) and int(rest) in RATINGS:
            probs[int(rest)] = probs.get(int(rest), 0.0) + math.exp(alt["logprob"])
    # Tokenizers that write one digit per token write 10 as "1" then "0": when the judge wrote "1", the next
    # token's probability of "0" splits the mass of "1" between ratings 1 and 10.
    if content[i]["token"][len(prefix):].strip() == "1" and i + 1 < len(content) and 1 in probs:
        p0 = sum(math.exp(a["logprob"]) for a in content[i + 1]["top_logprobs"] if a["token"].startswith("0"))
        probs[10] = probs.get(10, 0.0) + probs[1] * p0
        probs[1] *= 1 - p0
    total = sum(probs.values())
    if total == 0:
        return parse_score(text)
    return sum(r * p for r, p in probs.items()) / total


def parse_verdict(judgment: str) -> str:
    """A pairwise judge's verdict: "A", "B", "tie" or "error" (FastChat's output_format "[[A]]")."""
    for mark, verdict in (("[[A]]", "A"), ("[[B]]", "B"), ("[[C]]", "tie")):
        if mark in judgment:
            return verdict
    return "error"


def pair_outcome(g1: str, g2: str) -> str:
    """FastChat's rule over both orders: "model_1", "model_2", "tie" or "error".

    g1 is the verdict with model 1 as assistant A, g2 with model 2 as assistant A. A model wins only when both
    orders agree; disagreement is a tie; a game with an unreadable verdict is left out ("error").
    """
    g1 = {"A": "model_1", "B": "model_2"}.get(g1, g1)
    g2 = {"A": "model_2", "B": "model_1"}.get(g2, g2)
    if "error" in (g1, g2):
        return "error"
    if g1 == "tie" or g1 != g2:
        return "tie"
    return g1


def win_rates(outcomes: list[str]) -> dict[str, float]:
    """Model 1's record against model 2 as FastChat's show_result reports it; "error" games are left out."""
    win, loss, tie = (outcomes.count(o) for o in ("model_1", "model_2", "tie"))
    n = win + loss + tie
    if n == 0:
        return {"win": 0, "loss": 0, "tie": 0, "n": 0, "win_rate": math.nan, "loss_rate": math.nan,
                "tie_rate": math.nan, "win_rate_adjusted": math.nan}
    # each tie counts as half a win and half a loss
    return {"win": win, "loss": loss, "tie": tie, "n": n, "win_rate": win / n, "loss_rate": loss / n,
            "tie_rate": tie / n, "win_rate_adjusted": (win + 0.5 * tie) / n}
