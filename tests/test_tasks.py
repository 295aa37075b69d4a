"""The task layer over lm-eval: task loading, prompts, overrides, fingerprints, and scoring
parity with lm-eval's own evaluator."""

import re
import shutil
from pathlib import Path

import lm_eval.tasks
import pytest
from lm_eval.api.model import LM
from lm_eval.evaluator import simple_evaluate
from lm_eval.tasks import TaskManager
from lm_eval.tasks._yaml_loader import load_yaml
from transformers import AutoTokenizer

from sfteval.tasks import TASKS_DIR, UnknownTaskError, available_tasks, gsm8k, load_task

LM_EVAL_GSM8K_YAML = Path(lm_eval.tasks.__file__).parent / "gsm8k" / "gsm8k.yaml"
SMOLLM2_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


@pytest.fixture(scope="module")
def smollm2_chat_template(smollm2):
    """The callable lm-eval's HFLM.apply_chat_template is, over the real SmolLM2 tokenizer."""
    tokenizer = AutoTokenizer.from_pretrained(smollm2.path, gguf_file=smollm2.gguf_file)

    def apply(chat_history, add_generation_prompt=True):
        return tokenizer.apply_chat_template(chat_history, tokenize=False,
                                             add_generation_prompt=add_generation_prompt,
                                             continue_final_message=not add_generation_prompt)
    return apply


def lm_eval_gsm8k():
    """lm-eval's own gsm8k task, reading the shipped data since the hub is out of reach."""
    config = load_yaml(LM_EVAL_GSM8K_YAML)
    config["custom_dataset"] = gsm8k.load_dataset
    return TaskManager(include_defaults=False).load(config)["tasks"]["gsm8k"]


def test_available_tasks():
    assert available_tasks() == ["gsm8k", "gsm8k_5shot", "gsm8k_nll", "humaneval", "humaneval_nll", "humaneval_plus",
                                "mtbench_nll"]


def test_unknown_task_names_the_available_ones():
    with pytest.raises(UnknownTaskError) as error:
        load_task("gsm9k")
    assert str(error.value) == ("unknown task 'gsm9k': available tasks are "
                                "gsm8k, gsm8k_5shot, gsm8k_nll, humaneval, humaneval_nll, humaneval_plus, mtbench_nll")


@pytest.mark.parametrize("name, version, chat, primary", [
    ("gsm8k", "1.0", True, "exact_match,flexible"),
    ("gsm8k_5shot", "3.0", False, "exact_match,flexible-extract"),
    ("humaneval", "1.0", False, "pass@1"),
])
def test_task_metadata(name, version, chat, primary):
    task = load_task(name)
    assert (task.name, task.version, task.uses_chat_template, task.primary_metric) == (
        name, version, chat, primary)


def test_gsm8k_asks_the_bare_question_in_the_chat_template(smollm2_chat_template):
    questions = gsm8k.load_dataset()["test"]["question"][:5]
    task = load_task("gsm8k")
    requests = task.requests(limit=5, chat_template=smollm2_chat_template)
    assert [(r.task, r.doc_id, r.repeat) for r in requests] == [("gsm8k", i, 0) for i in range(5)]
    assert [r.prompt for r in requests] == [
        f"<|im_start|>system\n{SMOLLM2_SYSTEM}<|im_end|>\n"
        f"<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n" for q in questions]
    assert requests[0].gen_kwargs == {
        "until": ["</s>", "<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<end_of_turn>"],
        "max_gen_toks": 512, "do_sample": False, "temperature": 0.0}
    # Without a chat template (a base model) the question alone is the prompt.
    assert [r.prompt for r in task.requests(limit=5)] == questions


def test_completion_tasks_ignore_the_chat_template(smollm2_chat_template):
    task = load_task("humaneval")
    with_template = task.requests(limit=2, chat_template=smollm2_chat_template)
    assert with_template == task.requests(limit=2)
    assert not with_template[0].prompt.startswith("<|im_start|>")


def test_gsm8k_5shot_config_is_lm_evals_gsm8k():
    ours = load_yaml(TASKS_DIR / "gsm8k_5shot.yaml", resolve_func=False)
    theirs = load_yaml(LM_EVAL_GSM8K_YAML, resolve_func=False)
    # Only the data source and the task name differ; metadata only gains sfteval's keys.
    assert ours.pop("custom_dataset").endswith("hooks.gsm8k_dataset")
    for key in ("dataset_path", "dataset_name", "tag"):
        theirs.pop(key)
    assert ours.pop("task") == "gsm8k_5shot" and theirs.pop("task") == "gsm8k"
    assert ours.pop("metadata") == {**theirs.pop("metadata"), "chat": False,
                                    "primary_metric": "exact_match,flexible-extract"}
    assert ours == theirs


def test_gsm8k_5shot_prompts_are_lm_evals():
    theirs = lm_eval_gsm8k()
    theirs.set_fewshot_seed(1234)  # what simple_evaluate does by default
    theirs.build_all_requests(limit=3)
    task = load_task("gsm8k_5shot")
    ours = task.requests(limit=3)
    assert [r.prompt for r in ours] == [inst.args[0] for inst in theirs.instances]
    assert [r.gen_kwargs for r in ours] == [inst.args[1] for inst in theirs.instances]
    # 5 solved train questions, then the test question.
    prompt = ours[0].prompt
    assert prompt.count("Question: ") == 6 and prompt.count("#### ") == 5
    assert prompt.endswith("\n\nQuestion: " + gsm8k.load_dataset()["test"][0]["question"]
                           + "\nAnswer:")
    # The same shots on every call and for any limit.
    assert task.requests(limit=1) == ours[:1]


class CannedLM(LM):
    """An lm-eval model that answers each doc with a fixed output."""

    def __init__(self, outputs: dict[int, str]):
        super().__init__()
        self.outputs = outputs

    def generate_until(self, requests, disable_tqdm=False):
        return [self.outputs[request.doc_id] for request in requests]

    def loglikelihood(self, requests):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests):
        raise NotImplementedError


def test_gsm8k_5shot_scores_as_lm_evals_evaluator():
    docs = gsm8k.load_dataset()["test"]
    golds = [gsm8k.target(docs[i]) for i in range(12)]
    outputs = {i: [f" First, 2 + 2 = 4.\n#### {g}",       # both filters right
                   f" The answer is {g}.",                # flexible right
                   f" #### {g}\nThat took 3 steps.",      # strict right
                   " I don't know."][i % 4]               # both wrong
               for i, g in enumerate(golds)}
    config = load_yaml(LM_EVAL_GSM8K_YAML)
    config["custom_dataset"] = gsm8k.load_dataset
    result = simple_evaluate(model=CannedLM(outputs), tasks=[config], limit=12,
                             task_manager=TaskManager(include_defaults=False))
    theirs = result["results"]["gsm8k"]

    task = load_task("gsm8k_5shot")
    requests = task.requests(limit=12)
    samples, scores = task.score(requests, [outputs[r.doc_id] for r in requests])
    for score in scores:
        metric, filter_name = score.metric.split(",")
        assert score.value == pytest.approx(theirs[score.metric])
        assert score.stderr == pytest.approx(theirs[f"{metric}_stderr,{filter_name}"])
        assert score.n == 12
    assert [s.metric for s in scores] == ["exact_match,strict-match", "exact_match,flexible-extract"]
    assert [s.value for s in scores] == pytest.approx([0.5, 0.5])

    logged = {(s["filter"], s["doc_id"]): s for s in result["samples"]["gsm8k"]}
    for sample, request in zip(samples, requests):
        for filter_name in ("strict-match", "flexible-extract"):
            their_sample = logged[(filter_name, sample.doc_id)]
            assert sample.extracted[filter_name] == their_sample["filtered_resps"][0]
            assert sample.metrics[f"exact_match,{filter_name}"] == their_sample["exact_match"]
        assert request.prompt == their_sample["arguments"][0][0]
        assert sample.target == their_sample["target"]


def test_overrides():
    task = load_task("gsm8k", max_new_tokens=64, temperature=0.5)
    assert task.requests(limit=1)[0].gen_kwargs == {
        "until": ["</s>", "<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<end_of_turn>"],
        "max_gen_toks": 64, "do_sample": True, "temperature": 0.5}
    requests = load_task("humaneval", samples=3, temperature=0.2).requests(limit=2)
    assert [(r.doc_id, r.repeat) for r in requests] == [(0, 0), (0, 1), (0, 2),
                                                       (1, 0), (1, 1), (1, 2)]
    assert requests[0].gen_kwargs["do_sample"] is True
    assert requests[0].gen_kwargs["temperature"] == 0.2


@pytest.mark.parametrize("kwargs, message", [
    ({"samples": 0}, "samples must be at least 1"),
    ({"samples": 2, "temperature": 0.0}, "needs a temperature above 0"),
])
def test_invalid_overrides(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_task("humaneval", **kwargs)


def test_lm_evals_gsm8k_scores_one_sample_per_question():
    with pytest.raises(ValueError, match=re.escape("lm-eval's take_first filter")):
        load_task("gsm8k_5shot", samples=4)


def test_fingerprint_is_stable_and_follows_the_settings():
    fingerprint = load_task("gsm8k").fingerprint
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint)
    assert load_task("gsm8k").fingerprint == fingerprint
    others = [load_task("gsm8k", max_new_tokens=256).fingerprint,
              load_task("gsm8k", temperature=0.7).fingerprint,
              load_task("gsm8k_5shot").fingerprint]
    assert len({fingerprint, *others}) == 4
    assert load_task("humaneval", samples=2).fingerprint != load_task("humaneval").fingerprint


def test_extra_task_dir(tmp_path, monkeypatch):
    shutil.copy(TASKS_DIR / "hooks.py", tmp_path)
    yaml_text = (TASKS_DIR / "gsm8k.yaml").read_text()
    yaml_text = yaml_text.replace("task: gsm8k", "task: gsm8k_qa").replace(
        'doc_to_text: "{{question}}"', 'doc_to_text: "Q: {{question}}\\nA:"')
    (tmp_path / "gsm8k_qa.yaml").write_text(yaml_text)
    monkeypatch.setenv("SFTEVAL_TASKS_DIR", str(tmp_path))

    assert available_tasks() == ["gsm8k", "gsm8k_5shot", "gsm8k_nll", "gsm8k_qa", "humaneval", "humaneval_nll",
                                "humaneval_plus", "mtbench_nll"]
    task = load_task("gsm8k_qa")
    question = gsm8k.load_dataset()["test"][0]["question"]
    assert task.requests(limit=1)[0].prompt == f"Q: {question}\nA:"
    # Same data and settings, another prompt: another fingerprint.
    assert task.fingerprint != load_task("gsm8k").fingerprint
