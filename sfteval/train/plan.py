"""A grid config -> cells -> content-addressed stages, and which stages several cells share.

A stage is what one training run does: start from some weights, train on one mixture. Its key hashes the
key of those start weights (the base checkpoint, or the parent stage), the mixture (each source's content
identity, options and fraction, and the seed) and the hyperparameters. Two cells whose stages have the same
key share them: sequential's code stage is single-source code, every DMT k starts from mixed_sequential's
code+math stage. The grid trains each key once.

DMT's replay ("fraction k of the code+math data of stage 1") is expressed as fraction f*k of each
specialist source: subsets are nested prefixes of one seeded permutation, so it is a subset of what stage 1
trained on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from sfteval.audit.select import chosen_options
from sfteval.config import GridConfig, SourceSpec, Strategy, fraction_text

SPECIALISTS = ("math", "code")


@dataclass(frozen=True)
class Stage:
    key: str
    parent: Stage | None
    mix: tuple[tuple[str, Fraction], ...]   # (source name, fraction of that source), sorted by name

    @property
    def label(self) -> str:
        return " + ".join(f"{s}@{fraction_text(f)}" for s, f in self.mix)


@dataclass
class Cell:
    name: str
    strategy: str
    stages: list[Stage]
    k: Fraction | None = None

    def rows(self, grid: str) -> list[dict]:
        """grid_cells rows, one per stage."""
        return [dict(grid=grid, cell=self.name, strategy=self.strategy, stage_index=i, n_stages=len(self.stages),
                     stage=s.key, sources=[n for n, _ in s.mix], fractions={n: fraction_text(f) for n, f in s.mix},
                     k=fraction_text(self.k) if self.k is not None else None) for i, s in enumerate(self.stages)]


@dataclass
class Plan:
    config: GridConfig
    base_id: str
    cells: list[Cell]
    stages: list[Stage] = field(default_factory=list)   # unique, parents before children

    def __post_init__(self):
        seen: dict[str, Stage] = {}
        for cell in self.cells:
            for stage in cell.stages:
                seen.setdefault(stage.key, stage)
        self.stages = list(seen.values())

    def uses(self, stage: Stage) -> int:
        return sum(s.key == stage.key for c in self.cells for s in c.stages)


def source_identity(spec: SourceSpec) -> str:
    """What the examples of a source are made from: the file's content hash, or the hub id and split."""
    from sfteval.checkpoints import file_sha256

    path = Path(spec.path).expanduser()
    content = f"file:{file_sha256(path)}" if path.is_file() else f"hub:{spec.path}:{spec.split}"
    identity = {"content": content, "format": spec.format, "strip_calculator": spec.strip_calculator,
                "limit": spec.limit}
    selection = chosen_options(spec)
    return _sha({**identity, "selection": selection} if selection else identity)  # the default: keys as before


def build_plan(config: GridConfig, base_id: str) -> Plan:
    sources = {name: source_identity(spec) for name, spec in config.sources.items()}
    hyper = config.train.model_dump(mode="json")

    def stage(parent: Stage | None, mix: dict[str, Fraction]) -> Stage:
        items = tuple(sorted(mix.items()))
        key = _sha({"from": parent.key if parent else base_id, "seed": config.seed, "train": hyper,
                    "mix": [[sources[n], str(f)] for n, f in items]})
        return Stage(key, parent, items)

    def chain(*mixes: dict[str, Fraction]) -> list[Stage]:
        stages, parent = [], None
        for mix in mixes:
            parent = stage(parent, mix)
            stages.append(parent)
        return stages

    by_ability = {config.ability(n): n for n in config.sources}
    specialists = [by_ability[a] for a in SPECIALISTS if a in by_ability]
    general = by_ability.get("general")
    cells: list[Cell] = []
    for s in config.strategies:
        for f in _fractions(s, config):
            at = f"@{fraction_text(f)}"
            if s.kind == "single":
                cells += [Cell(f"single {n} {at}", "single", chain({n: f})) for n in config.sources]
            elif s.kind == "multitask":
                cells.append(Cell(f"multitask {at}", "multitask", chain({n: f for n in config.sources})))
            elif s.kind == "sequential":
                order = [by_ability.get(n, n) for n in s.order]
                cells.append(Cell(f"sequential {'>'.join(s.order)} {at}", "sequential", chain(*({n: f} for n in order))))
            elif s.kind == "mixed_sequential":
                cells.append(Cell(f"mixed_sequential {at}", "mixed_sequential",
                                  chain({n: f for n in specialists}, {general: f})))
            elif s.kind == "dmt":
                for k in s.k:
                    cells.append(Cell(f"dmt k={fraction_text(k)} {at}", "dmt",
                                      chain({n: f for n in specialists}, {general: f, **{n: f * k for n in specialists}}),
                                      k=k))
            elif s.kind == "ratio":
                fixed = ",".join(f"{n}={fraction_text(v)}" for n, v in sorted(s.fixed.items()))
                cells.append(Cell(f"ratio [{fixed}] {'+'.join(s.vary)} {at}", "ratio",
                                  chain({**s.fixed, **{n: f for n in s.vary}}), k=f))
    return Plan(config, base_id, cells)


def _fractions(s: Strategy, config: GridConfig) -> list[Fraction]:
    if s.fractions is not None:
        return s.fractions
    return config.fractions if s.kind in ("single", "multitask", "ratio") else [Fraction(1)]


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()
