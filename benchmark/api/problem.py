"""The problem contract: named inputs, named tasks, and deterministic data splits.

A problem plugin subclasses `Problem`; its constructor's keyword arguments are its options
(what a suite's ``[problem]`` table sets), validated at construction.  `specs()` is cheap
(no data); `load(seed)` builds or reads the data and returns the three splits.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

import torch

from benchmark.api.errors import MimoBenchError
from benchmark.api.registry import Described

InputKind = Literal["image", "sequence", "vector", "category"]
TaskKind = Literal["classification", "regression"]

CLASSIFICATION_METRICS = {"accuracy": True, "f1": True}  # metric -> higher is better
REGRESSION_METRICS = {"mse": False, "mae": False}


@dataclass(frozen=True)
class InputSpec:
    """One input of the net.

    ``shape`` is per sample: image (C, H, W); sequence (length, features); vector (dim,);
    category () with ``num_categories``.  Images are stored as uint8 and scaled to [0, 1].
    """

    name: str
    kind: InputKind
    shape: tuple[int, ...]
    num_categories: int | None = None


@dataclass(frozen=True)
class TaskSpec:
    """One output of the net: what it predicts, its loss and its metrics.

    A regression target is ``dim`` numbers per sample: targets of shape (samples,) for ``dim=1`` (the head's
    output is squeezed to match), (samples, dim) otherwise; the MSE loss and the MSE/MAE metrics average over
    every coordinate of every sample.
    """

    name: str
    kind: TaskKind
    num_classes: int | None = None
    labels: tuple[str, ...] | None = None  # class index -> label, saved with checkpoints
    output_scale: float = 1.0  # regression: the head's output is multiplied by this (the target's scale)
    dim: int = 1  # regression: the target's dimension (classification: always 1)

    def __post_init__(self) -> None:
        if not isinstance(self.dim, int) or self.dim < 1 or (self.kind == "classification" and self.dim != 1):
            raise ValueError(
                f"task {self.name!r}: dim must be an integer >= 1 (1 for classification), got {self.dim!r}"
            )

    @property
    def loss(self) -> str:
        return "cross_entropy" if self.kind == "classification" else "mse"

    @property
    def metrics(self) -> dict[str, bool]:
        """Metric name -> whether higher is better."""
        return CLASSIFICATION_METRICS if self.kind == "classification" else REGRESSION_METRICS

    @property
    def primary_metric(self) -> str:
        return "accuracy" if self.kind == "classification" else "mae"


@dataclass
class Split:
    """One data split held in memory: input tensors and target tensors, first dim = samples."""

    inputs: dict[str, torch.Tensor]
    targets: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return len(next(iter(self.targets.values())))

    def subset(self, indices: torch.Tensor) -> Split:
        return Split(
            {k: v[indices] for k, v in self.inputs.items()},
            {k: v[indices] for k, v in self.targets.items()},
        )


@dataclass
class ProblemData:
    """What `Problem.load` returns: the specs and the train/val/test splits."""

    inputs: tuple[InputSpec, ...]
    tasks: tuple[TaskSpec, ...]
    train: Split
    val: Split
    test: Split
    info: dict[str, object] = field(default_factory=dict)  # e.g. {"cache": "hit"}


class Problem(Described):
    """Base class of problems.  Subclasses set ``name`` and implement `specs` and `load`."""

    name: ClassVar[str]

    def specs(self) -> tuple[tuple[InputSpec, ...], tuple[TaskSpec, ...]]:
        """The inputs and tasks, without building any data."""
        raise NotImplementedError

    def load(self, seed: int) -> ProblemData:
        """The data with train/val/test splits drawn deterministically from ``seed``; built-in problems
        hold the test split fixed across seeds (`stratified_split`)."""
        raise NotImplementedError

    @property
    def owner(self) -> str:
        """How option errors name this problem."""
        return f"problem '{self.name}'"

    @property
    def tasks(self) -> tuple[TaskSpec, ...]:
        return self.specs()[1]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def cache_dir() -> Path:
    """Where generated datasets are cached: ``$MIMO_BENCH_CACHE`` or ``~/.cache/mimo-bench``."""
    return Path(os.environ.get("MIMO_BENCH_CACHE", Path.home() / ".cache" / "mimo-bench"))


DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)  # train, val, test
TEST_DRAW_SEED = 0  # the test samples' draw, the same for every run seed


def stratified_split(
    labels: torch.Tensor, fractions: tuple[float, float, float], seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split sample indices into train/val/test so each label keeps its share in every split.

    The test split depends on the labels alone: every seed (and so every search trial, tuned on one
    seed's val) gets the same test samples, which no model selection ever sees.  ``seed`` draws the
    train/val split of the rest.  Every label with at least 3 samples appears in all three splits.
    """
    fixed = torch.Generator().manual_seed(TEST_DRAW_SEED)
    generator = torch.Generator().manual_seed(seed)
    parts: list[list[torch.Tensor]] = [[], [], []]
    for label in torch.unique(labels):
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=fixed)]
        n = len(members)
        n_val = max(1, round(n * fractions[1])) if n >= 3 else 0
        n_test = max(1, round(n * fractions[2])) if n >= 3 else 0
        rest = members[n_test:]
        rest = rest[torch.randperm(len(rest), generator=generator)]
        parts[0].append(rest[n_val:])
        parts[1].append(rest[:n_val])
        parts[2].append(members[:n_test])
    return tuple(torch.sort(torch.cat(p)).values for p in parts)  # type: ignore[return-value]


def cached_tensors(
    problem: str, key: Mapping[str, object], build: Callable[[], dict[str, object]]
) -> tuple[dict[str, object], bool]:
    """Read ``build()``'s result from ``cache_dir()/<problem>-<hash of key>.pt``, building and saving it on a miss.

    The dict may hold tensors, numbers, strings and lists of them.  Returns it and whether the
    cache was hit.  The file is written atomically, so a crash never leaves a half-written cache.
    """
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = cache_dir() / f"{problem}-{digest}.pt"
    if path.is_file():
        try:
            return torch.load(path, weights_only=True), True
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):
            pass  # unreadable (e.g. written by an incompatible torch): rebuild it below
    data = build()
    try:
        _save_atomically(data, path)
    except OSError as error:
        raise MimoBenchError(
            f"cannot write the {problem} data cache to {path.parent}: {error}; "
            "set MIMO_BENCH_CACHE to a writable folder"
        ) from error
    return data, False


def _save_atomically(data: object, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(data, file)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
