"""sfteval's benchmarks are lm-eval tasks: the YAML files in the repository's top-level tasks/.

lm-eval's evaluator wants to own the model; sfteval generates with its own backends. So this
module takes from an lm-eval Task object only what it needs, through lm-eval's own code:
the exact prompts to generate from (`Task.requests`), and the scores of the outputs through
the task's filters, process_results and aggregation (`Task.score`). The same YAML files run
unchanged under `lm_eval --include_path tasks --tasks <name>`.

Metric names are lm-eval's "metric,filter" ("exact_match,flexible"); a task with a single
filter leaves the filter out ("pass@1").
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lm_eval.api.instance import Instance
from lm_eval.api.metrics import mean, stderr_for_metric
from lm_eval.api.task import ConfigurableTask
from lm_eval.tasks import TaskManager

# The repository's top-level tasks/ in a source checkout; an installed wheel carries it as sfteval/yaml_tasks.
TASKS_DIR = next(p for p in (Path(__file__).resolve().parents[2] / "tasks",
                             Path(__file__).resolve().parents[1] / "yaml_tasks") if p.is_dir())
FEWSHOT_SEED = 1234  # lm-eval's default fewshot_random_seed: the shots `lm_eval` itself picks
# Several samples per doc need sampling; without a given temperature, 0.8: the best one for
# pass@100 in the Codex paper (Chen et al. 2021).
SAMPLING_TEMPERATURE = 0.8
BOOTSTRAP_ITERS = 100_000  # lm-eval's default; metrics aggregated by mean use the closed form


class UnknownTaskError(ValueError):
    pass


@dataclass(frozen=True)
class Request:
    task: str
    doc_id: int
    repeat: int  # 0..samples-1
    prompt: str  # exactly what the model sees, chat template applied when the task uses one
    gen_kwargs: dict  # lm-eval generation kwargs: until, max_gen_toks, do_sample, temperature
    request_type: str = "generate_until"  # lm-eval's: or "loglikelihood" of `continuation` after `prompt`
    continuation: str | None = None  # the text a loglikelihood request scores


@dataclass
class SampleResult:
    doc_id: int
    repeat: int
    prompt: str
    output: str  # raw model output
    target: str
    extracted: dict  # filter name -> what the filter made of this output (answer, verdict)
    metrics: dict  # metric name -> value for the whole doc (all its samples)
    score: float  # the primary metric of this sample alone


@dataclass
class Score:
    metric: str
    value: float
    stderr: float | None  # sample stderr of the mean, as lm-eval reports it
    n: int  # docs


class Task:
    """One lm-eval task, loaded with sfteval's overrides by `load_task`."""

    def __init__(self, lm_task: ConfigurableTask):
        config = lm_task.config
        self._lm_task = lm_task
        self._filters = [f["name"] for f in config.filter_list or []] or ["none"]  # lm-eval's default
        self.name: str = config.task
        self.version = str(config.metadata["version"])
        self.uses_chat_template = bool(config.metadata.get("chat", False))
        self.primary_metric: str = config.metadata["primary_metric"]
        self.fingerprint = _fingerprint(lm_task)

    def requests(self, limit: int | None = None,
                 chat_template: Callable[..., str] | None = None) -> list[Request]:
        """Requests for the first `limit` docs (all when None), `repeats` per doc.

        `chat_template(messages, add_generation_prompt=True) -> str` is the callable lm-eval's
        HFLM.apply_chat_template is; it is used only by tasks that use the chat template.
        """
        use_chat = self.uses_chat_template and chat_template is not None
        # Few-shot examples come from one random stream drawn doc after doc: reseed so every
        # call gets the shots `lm_eval` would give the same docs.
        self._lm_task.set_fewshot_seed(FEWSHOT_SEED)
        self._lm_task.build_all_requests(limit=limit, apply_chat_template=use_chat,
                                         chat_template=chat_template if use_chat else None)
        if self._lm_task.OUTPUT_TYPE == "loglikelihood":  # args: (prompt, continuation)
            return [Request(self.name, inst.doc_id, 0, inst.args[0], {}, "loglikelihood", inst.args[1])
                    for inst in self._lm_task.instances]
        return [Request(self.name, inst.doc_id, repeat, inst.args[0], deepcopy(inst.args[1]))
                for inst in self._lm_task.instances for repeat in range(inst.repeats)]

    def score(self, requests: list[Request],
              outputs: list[str]) -> tuple[list[SampleResult], list[Score]]:
        """Score outputs[i], the answer to requests[i], as lm-eval's evaluator would.

        Sample results come back in (doc_id, repeat) order, the order of `requests()`.
        """
        if len(requests) != len(outputs):
            raise ValueError(f"{len(requests)} requests but {len(outputs)} outputs")
        by_doc = defaultdict(list)
        for request, output in zip(requests, outputs):
            by_doc[request.doc_id].append((request, output))
        for answered in by_doc.values():
            answered.sort(key=lambda pair: pair[0].repeat)
        instances = self._filtered(by_doc)

        primary, _, primary_filter = self.primary_metric.partition(",")
        primary_filter = primary_filter or self._filters[0]
        samples, values = [], defaultdict(list)
        for instance in instances:
            doc, filtered = instance.doc, instance.filtered_resps
            doc_metrics = {}
            for name in self._filters:
                for metric, value in self._lm_task.process_results(doc, [filtered[name]]).items():
                    doc_metrics[self._metric_key(metric, name)] = float(value)
            for key, value in doc_metrics.items():
                values[key].append(value)
            target = str(self._lm_task.doc_to_target(doc))
            for i, (request, output) in enumerate(by_doc[instance.doc_id]):
                # Filters that keep every sample give a list per doc; lm-eval's take_first
                # gives one value (load_task allows those tasks a single sample only).
                alone = {name: [filtered[name][i]] if isinstance(filtered[name], list)
                         else filtered[name] for name in self._filters}
                extracted = {name: v[0] if isinstance(v, list) else v for name, v in alone.items()}
                score = self._lm_task.process_results(doc, [alone[primary_filter]])[primary]
                samples.append(SampleResult(instance.doc_id, request.repeat, request.prompt, output,
                                            target, extracted, dict(doc_metrics), float(score)))
        return samples, self._aggregate(values)

    def _filtered(self, by_doc: dict[int, list[tuple[Request, str]]]) -> list[Instance]:
        """lm-eval Instances holding each doc's outputs, after the task's filters ran on them."""
        docs = self._lm_task.eval_docs
        instances = []
        for doc_id, answered in sorted(by_doc.items()):
            first = answered[0][0]
            instance = Instance("generate_until", docs[doc_id], (first.prompt, first.gen_kwargs),
                                idx=0, metadata=(self.name, doc_id, len(answered)))
            instance.resps = [output for _, output in answered]
            instances.append(instance)
        # Filters see all docs at once (humaneval runs its tests in one parallel batch there).
        self._lm_task._instances = instances
        self._lm_task.apply_filters()
        return instances

    def _aggregate(self, values: dict[str, list[float]]) -> list[Score]:
        aggregations = self._lm_task.aggregation()
        scores = []
        for key, items in values.items():
            aggregate = aggregations.get(key.partition(",")[0], mean)
            stderr_fn = stderr_for_metric(aggregate, BOOTSTRAP_ITERS)
            stderr = float(stderr_fn(items)) if stderr_fn and len(items) > 1 else None
            scores.append(Score(key, float(aggregate(items)), stderr, len(items)))
        return scores

    def _metric_key(self, metric: str, filter_name: str) -> str:
        return metric if len(self._filters) == 1 else f"{metric},{filter_name}"


def _task_manager() -> TaskManager:
    # include_defaults=False: indexing lm-eval's thousands of built-in tasks takes many seconds.
    extra = [Path(p) for p in os.environ.get("SFTEVAL_TASKS_DIR", "").split(os.pathsep) if p]
    return TaskManager(include_path=[TASKS_DIR, *extra], include_defaults=False)


def available_tasks() -> list[str]:
    return sorted(_task_manager().all_subtasks)


def load_task(name: str, *, samples: int = 1, temperature: float | None = None,
              max_new_tokens: int | None = None) -> Task:
    """The task `name`; samples > 1 draws that many answers per doc (lm-eval `repeats`)."""
    manager = _task_manager()
    if name not in manager.all_subtasks:
        raise UnknownTaskError(f"unknown task {name!r}: available tasks are "
                               + ", ".join(sorted(manager.all_subtasks)))
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    lm_task = manager.load(name)["tasks"][name]
    if lm_task.OUTPUT_TYPE == "loglikelihood":  # a probe generates nothing: no generation settings apply
        from sfteval.tasks.probes import Probe  # probes.py builds on this module

        return Probe(lm_task)

    overrides = {}  # applied the way `lm_eval --gen_kwargs` applies them
    if max_new_tokens is not None:
        overrides["max_gen_toks"] = max_new_tokens
    if samples > 1:
        if _scores_first_sample_only(lm_task):
            raise ValueError(f"task {name!r} scores only the first sample of each doc "
                             "(lm-eval's take_first filter): use samples=1")
        temperature = SAMPLING_TEMPERATURE if temperature is None else temperature
        if temperature <= 0:
            raise ValueError("samples > 1 needs a temperature above 0: greedy decoding "
                             "gives the same answer every time")
        lm_task.set_config("repeats", samples)
    if temperature is not None:
        overrides |= {"temperature": float(temperature), "do_sample": temperature > 0}
    lm_task.set_config("generation_kwargs", overrides, update=True)
    return Task(lm_task)


def _scores_first_sample_only(lm_task: ConfigurableTask) -> bool:
    filter_list = lm_task.config.filter_list
    return filter_list is None or any(step["function"] == "take_first"
                                      for f in filter_list for step in f["filter"])


def _fingerprint(lm_task: ConfigurableTask) -> str:
    """sha256 of everything that decides the prompts and the generations: the YAML file,
    the docs of every split, and the generation settings after overrides."""
    config = lm_task.config
    digest = hashlib.sha256(Path(config.metadata["config_source"]).read_bytes())
    settings = {"generation_kwargs": config.generation_kwargs, "repeats": config.repeats,
                "num_fewshot": config.num_fewshot, "fewshot_seed": FEWSHOT_SEED}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for split in sorted(lm_task.dataset):
        rows = lm_task.dataset[split].to_list()
        digest.update(json.dumps({split: rows}, sort_keys=True).encode())
    return digest.hexdigest()
