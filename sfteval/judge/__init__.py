"""MT-Bench judging, FastChat-exact where numbers are compared with published ones.

- data:      the shipped questions, reference answers and judge prompts; FastChat's answer/judgment files
- prompts:   judge prompts built as FastChat builds them; per-category answer temperatures
- parse:     FastChat's rating regexes, the expected rating from logprobs, pairwise verdicts and rule
- aggregate: show_result's means, per-category means, bootstrap intervals
- client:    the Judge protocol and the OpenAI-compatible API judge (retries, concurrency, usage)
- local:     a local model as the judge (hf or vllm backend): written ratings, or the expected rating in one pass
- build:     the judge `sfteval run --judge ...` asks for, checked before the run starts
- cache:     judgments kept in the store, so nothing is judged twice and a killed run resumes
- cost:      judge tokens priced per 1M tokens: all judgments behind a score, and those asked in this run
- pairwise:  answer sets (runs, FastChat files) judged against each other in both orders; win rates
- fastchat:  FastChat's files imported into the store as runs
"""
