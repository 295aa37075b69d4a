"""What judging costs: tokens times a price per million tokens, for the API judges whose prices are known.

Prices are the providers' list prices in USD per 1M input / output tokens (OpenAI, 2024-2025); a dated
snapshot (gpt-4o-2024-08-06, gpt-4-0613) costs what its family costs. A local judge costs nothing here;
an API model not in the table has no price unless one is given (`--judge-price IN,OUT`).

Two totals are kept: what the judgments behind a score cost (whenever they were asked), and what this command
asked ("this_run"): a judgment read from the cache, judged by an earlier run or before a resumed run was
killed, costs nothing now.
"""

from __future__ import annotations

import re

from sfteval.config import ConfigError

Price = tuple[float, float]  # USD per 1M input (prompt) tokens, per 1M output (completion) tokens

PRICES: dict[str, Price] = {
    "gpt-4": (30.0, 60.0),
    "gpt-4-32k": (60.0, 120.0),
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
}
FREE: Price = (0.0, 0.0)
# -2024-08-06, -0613, -2024-04-09: a snapshot of the family before it
SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")


def api_price(model: str) -> Price | None:
    """The list price of an API judge model, or None when the table does not know it."""
    return PRICES.get(model) or PRICES.get(SNAPSHOT.sub("", model))


def parse_price(text: str) -> Price:
    """--judge-price IN,OUT: USD per 1M input tokens and per 1M output tokens."""
    try:
        price_in, price_out = (float(x) for x in text.split(","))
    except ValueError:
        raise ConfigError(f"--judge-price takes two numbers IN,OUT in USD per 1M tokens, e.g. 2.5,10 "
                          f"(got {text!r})") from None
    if price_in < 0 or price_out < 0:
        raise ConfigError(f"--judge-price must not be negative (got {text!r})")
    return price_in, price_out


def cost_usd(prompt_tokens: int, completion_tokens: int, price: Price) -> float:
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6


def usage_totals(replies: list, price: Price | None) -> dict[str, tuple[float, int]]:
    """metric -> (value, number of judgments): tokens of all the replies and, with a price, their cost:
    `judge_cost_usd` for all of them, `judge_cost_usd,this_run` for those asked now (not read from the cache)."""
    def tokens(rs: list, key: str) -> int:
        return sum(r.usage.get(key) or 0 for r in rs)

    totals = {f"judge_{k}": (float(tokens(replies, k)), len(replies)) for k in ("prompt_tokens", "completion_tokens")}
    if price is not None:
        asked = [r for r in replies if not r.cached]
        totals["judge_cost_usd"] = (cost_usd(tokens(replies, "prompt_tokens"), tokens(replies, "completion_tokens"),
                                             price), len(replies))
        totals["judge_cost_usd,this_run"] = (cost_usd(tokens(asked, "prompt_tokens"),
                                                      tokens(asked, "completion_tokens"), price), len(asked))
    return totals


def summary(metrics: dict[str, float]) -> str:
    """One line on what the judge used and cost, from a task's metrics (values)."""
    line = (f"judge: {metrics['judge_prompt_tokens']:,.0f} prompt + {metrics['judge_completion_tokens']:,.0f} "
            f"completion tokens")
    if "judge_cost_usd" not in metrics:
        return line + "; cost unknown for this model: pass --judge-price IN,OUT (USD per 1M tokens)"
    return (line + f", est. ${metrics['judge_cost_usd']:.4g} (${metrics['judge_cost_usd,this_run']:.4g} of it "
            f"asked in this run, the rest read from the judgment cache)")
