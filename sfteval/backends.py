"""The generation layer: lm-eval's model classes for hf, vllm and OpenAI-compatible APIs.

Nothing else in sfteval knows lm-eval's model classes. The model is built lazily, on the first prompt that
missed the cache, so a fully cached re-run never loads weights.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
from copy import deepcopy
from typing import Callable

from sfteval.checkpoints import Checkpoint
from sfteval.config import ConfigError, RunSettings

# The paper's prompt formats (Vicuna v1.1 as in FastChat, Alpaca) and ChatML, for base models and for
# reproducing the study's prompts on models whose own template differs.
CHAT_TEMPLATES = {
    "vicuna": (
        "{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] }}{% else %}"
        "{{ 'A chat between a curious user and an artificial intelligence assistant. The assistant gives "
        "helpful, detailed, and polite answers to the user\\'s questions.' }}{% endif %}"
        "{% for m in messages %}{% if m['role'] == 'user' %}{{ ' USER: ' + m['content'] }}"
        "{% elif m['role'] == 'assistant' %}{{ ' ASSISTANT: ' + m['content'] + '</s>' }}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ ' ASSISTANT:' }}{% endif %}"
    ),
    "alpaca": (
        "{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] + '\\n\\n' }}{% else %}"
        "{{ 'Below is an instruction that describes a task. Write a response that appropriately completes "
        "the request.\\n\\n' }}{% endif %}"
        "{% for m in messages %}{% if m['role'] == 'user' %}{{ '### Instruction:\\n' + m['content'] + '\\n\\n' }}"
        "{% elif m['role'] == 'assistant' %}{{ '### Response:\\n' + m['content'] + '\\n\\n' }}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '### Response:\\n' }}{% endif %}"
    ),
    "chatml": (
        "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    ),
}

Templater = Callable[..., str]

# End-of-turn strings of common chat templates (ChatML, Llama 2/3, Gemma, GPT-2 style), for backends that do not
# stop at the tokenizer's own EOS; the same list as tasks/gsm8k.yaml.
CHAT_STOPS = ["</s>", "<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<end_of_turn>"]


class Generator:
    """Turns (prompt, gen_kwargs) pairs into completions with one lazily built lm-eval LM."""

    def __init__(self, ckpt: Checkpoint, settings: RunSettings):
        self.ckpt, self.settings = ckpt, settings
        self._lms: dict[bool, object] = {}
        self._tokenizer = None

    # --- prompts --------------------------------------------------------------------------------------

    def templater(self) -> Templater | None:
        """The callable lm-eval's tasks use to render a chat, or None to send raw text."""
        template = self.settings.chat_template
        if template == "none":
            return None
        if self.settings.backend == "api":
            # The server applies its own template: the prompt is the messages as JSON, which lm-eval's chat
            # client sends as they are (wrapped in its JsonChatStr at generation time).
            return lambda history, add_generation_prompt=True: json.dumps(history, ensure_ascii=False)
        tokenizer = self.tokenizer()
        if template != "auto":
            tokenizer.chat_template = CHAT_TEMPLATES[template]
        elif not tokenizer.chat_template:
            raise ConfigError(f"{self.ckpt.path} has no chat template: pass --chat-template vicuna|alpaca|chatml|none")

        def render(history: list[dict], add_generation_prompt: bool = True) -> str:
            # Exactly what lm-eval's HFLM.apply_chat_template does, without loading the model.
            return tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=add_generation_prompt,
                                                 continue_final_message=not add_generation_prompt)

        return render

    def tokenizer(self):
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            source = self.ckpt.base if self.ckpt.kind == "peft" else self._model_path()
            self._tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=self.ckpt.gguf_file)
        return self._tokenizer

    # --- generation -----------------------------------------------------------------------------------

    def order(self, prompts: list[str]) -> list[int]:
        """Indices in the order lm-eval's HFLM batches them (longest in tokens first, ties by text), so
        that sfteval's chunks hold the very batches `lm_eval` would run: same padding, same outputs."""
        if self.settings.backend == "api":
            lengths = [len(p) for p in prompts]
        else:
            lengths = [len(ids) for ids in self.tokenizer()(prompts, add_special_tokens=False)["input_ids"]]
        return sorted(range(len(prompts)), key=lambda i: (-lengths[i], prompts[i]))

    def generate(self, prompts: list[str], gen_kwargs: list[dict], chat: bool) -> list[str]:
        from lm_eval.api.instance import Instance
        from lm_eval.models.api_models import JsonChatStr

        lm = self._lm(chat)
        wrap = JsonChatStr if chat and self.settings.backend == "api" else str
        # deepcopy: lm-eval appends the EOS to `until` in place, which would change the caller's gen_kwargs
        instances = [Instance("generate_until", doc={}, arguments=(wrap(p), deepcopy(kw)), idx=i)
                     for i, (p, kw) in enumerate(zip(prompts, gen_kwargs))]
        return lm.generate_until(instances, disable_tqdm=True)

    def loglikelihood(self, pairs: list[tuple[str, str]]) -> list[dict]:
        """lm-eval's loglikelihood of each (prompt, continuation), batched by the LM: {"logprob": log-probability
        of the continuation, "greedy": whether greedy decoding gives it, "tokens": how many tokens it scored}."""
        from lm_eval.api.instance import Instance

        if any(not prompt for prompt, _ in pairs):
            raise ValueError("loglikelihood requests need a non-empty prompt")
        lm = self._lm(True)
        instances = [Instance("loglikelihood", doc={}, arguments=pair, idx=i) for i, pair in enumerate(pairs)]
        results = lm.loglikelihood(instances, disable_tqdm=True)
        # The continuation's tokens as lm-eval split them (whitespace ending the prompt moves to the continuation).
        counts = [len(lm._encode_pair(prompt, continuation)[1]) for prompt, continuation in pairs]
        return [{"logprob": float(logprob), "greedy": bool(greedy), "tokens": n}
                for (logprob, greedy), n in zip(results, counts)]

    def next_token_probs(self, prompts: list[str], candidates: list[int],
                         then: int | None = None) -> tuple[list[list[float]], list[list[float]] | None]:
        """P(next token = c) for each candidate token id after each prompt, from one forward pass per batch; with
        `then`, also the candidates' probabilities one token later, once `then` is appended (one more step on
        the cached keys and values, not a second pass over the prompt). hf backend only."""
        import torch

        if self.settings.backend != "hf":
            raise ConfigError("next-token probabilities need a local model: use the hf backend")
        lm = self._lm(True)
        # Only the last position's logits: the whole (batch, length, vocabulary) tensor can take gigabytes.
        accepts = inspect.signature(lm.model.forward).parameters
        last_only = {"logits_to_keep": 1} if "logits_to_keep" in accepts else {}
        cache_arg = "cache" if "cache" in accepts else "past_key_values"  # transformers 5 renamed it
        first, second = [None] * len(prompts), [None] * len(prompts)
        order = self.order(prompts)  # similar lengths together: less padding
        for start in range(0, len(order), self.settings.batch_size):
            rows = order[start:start + self.settings.batch_size]
            ids, mask = (t.to(lm.device) for t in lm.tok_batch_encode([prompts[i] for i in rows]))
            # Left padding: count positions over real tokens only, as generate() does, so that a padded row
            # sees the positions it would see alone.
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():
                out = lm.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=then is not None,
                               **last_only)
                probs = out.logits[:, -1].float().softmax(-1)[:, candidates].tolist()
                for i, p in zip(rows, probs):
                    first[i] = p
                if then is None:
                    continue
                out = lm.model(input_ids=torch.full((len(rows), 1), then, device=lm.device),
                               attention_mask=torch.cat([mask, mask.new_ones(len(rows), 1)], 1),
                               position_ids=positions[:, -1:] + 1, **{cache_arg: getattr(out, cache_arg)})
                for i, p in zip(rows, out.logits[:, -1].float().softmax(-1)[:, candidates].tolist()):
                    second[i] = p
        return first, (second if then is not None else None)

    def token_count(self, text: str) -> int:
        return len(self.tokenizer()(text, add_special_tokens=False)["input_ids"])

    def _model_path(self) -> str:
        return self.ckpt.params.get("local_path", self.ckpt.path)

    def _lm(self, chat: bool):
        # API chat tasks go to /chat/completions and raw-text tasks to /completions: two clients.
        key = chat if self.settings.backend == "api" else True
        if key not in self._lms:
            self._lms[key] = self._build(chat)
        return self._lms[key]

    def _build(self, chat: bool):
        s, ckpt = self.settings, self.ckpt
        if s.backend == "api":
            from lm_eval.models.openai_completions import LocalChatCompletion, LocalCompletionsAPI

            cls, endpoint = (LocalChatCompletion, "chat/completions") if chat else (LocalCompletionsAPI, "completions")
            return cls(base_url=f"{s.api_base.rstrip('/')}/{endpoint}", model=s.api_model, tokenizer_backend=None,
                       tokenized_requests=False, num_concurrent=s.batch_size, max_retries=3)
        path = ckpt.base if ckpt.kind == "peft" else self._model_path()
        kwargs = dict(pretrained=path, dtype=s.dtype, batch_size=s.batch_size, gguf_file=ckpt.gguf_file)
        if ckpt.kind == "peft":
            kwargs["peft"] = ckpt.path
        if s.backend == "vllm":
            from lm_eval.models.vllm_causallms import VLLM

            kwargs.pop("gguf_file")
            return VLLM(**kwargs, **({"tokenizer": ckpt.path} if ckpt.gguf_file else {}))
        return _hflm_class()(**kwargs, device=s.device or _default_device())


def _hflm_class():
    """lm-eval's HFLM, stopping each row of a batch on its own.

    lm-eval ends a batch only when every row has produced the same stop string, and a row that ended on
    EOS never counts: on CPU most batches then run to max_gen_toks (batch 8 measured 10-100x slower than
    batch 1 here). This subclass keeps lm-eval's matching (a stop string anywhere in the last tokens of
    the generated part) but decides it per row, so a batch ends when each row has stopped. Finished rows
    only receive padding, so every output is the one lm-eval would return after its own cut at the stop.
    """
    import torch
    import transformers
    from lm_eval.models.huggingface import HFLM

    class StopPerRow(transformers.StoppingCriteria):
        def __init__(self, tokenizer, stops: list[str], start: int):
            self.tokenizer, self.stops, self.start = tokenizer, stops, start
            self.lookback = max((len(tokenizer.encode(s, add_special_tokens=False)) for s in stops), default=0) + 2

        def __call__(self, input_ids, scores, **kwargs):
            tails = self.tokenizer.batch_decode(input_ids[:, self.start:][:, -self.lookback:])
            return torch.tensor([any(s in t for s in self.stops) for t in tails], device=input_ids.device)

    class PerRowStopHFLM(HFLM):
        def _model_generate(self, context, max_length, stop, **generation_kwargs):
            # lm-eval's own handling of greedy decoding (HFLM._model_generate), unchanged.
            generation_kwargs["temperature"] = generation_kwargs.get("temperature", 0.0)
            do_sample = generation_kwargs.get("do_sample")
            if generation_kwargs["temperature"] == 0.0 and do_sample is None:
                generation_kwargs["do_sample"] = do_sample = False
            if do_sample is False and generation_kwargs["temperature"] == 0.0:
                generation_kwargs.pop("temperature")
            criteria = transformers.StoppingCriteriaList([StopPerRow(self.tokenizer, stop, context.shape[1])])
            with torch.autocast(device_type=self.device.type, dtype=self.mixed_precision_dtype,
                                enabled=self.mixed_precision_dtype is not None):
                return self.model.generate(input_ids=context, max_length=max_length, stopping_criteria=criteria,
                                           pad_token_id=self.tokenizer.pad_token_id, use_cache=True,
                                           **generation_kwargs)

    return PerRowStopHFLM


def check_backend(settings: RunSettings) -> None:
    """Fail before anything is written when the chosen backend cannot run here."""
    if settings.backend != "vllm":
        return
    if importlib.util.find_spec("vllm") is None:
        raise ConfigError("--backend vllm needs the vllm package: pip install 'sfteval[vllm]' on a machine with an "
                          "NVIDIA GPU, or use --backend hf")
    import torch

    if not torch.cuda.is_available():
        raise ConfigError("--backend vllm needs a CUDA GPU and none is visible: use --backend hf on this machine")


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
