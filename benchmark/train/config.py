"""The settings of one run's training: optimizer, learning-rate schedule, clipping, accumulation, early stopping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation settings of one run (a suite's ``[optimizer]``, ``accumulate``, ``[early_stopping]``).

    ``lr`` is the net's base learning rate; ``head_lr`` (task -> lr) and ``trunk_lr`` give heads and the
    shared part (encoders and trunk) their own; the strategy's own parameters keep the groups it asks for.
    ``schedule`` multiplies every net group's lr per epoch (`benchmark.train.optimization.schedule_factor`).
    ``clip_grad_norm`` > 0 clips the net's gradient norm before each step.  ``accumulate`` batches make one
    optimizer step.  ``patience`` > 0 stops after that many epochs without a val improvement > ``min_delta``.
    """

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "cpu"
    eval_batch_size: int = 64  # small enough that a conv net's activations stay in cache (BENCHMARKS.md)
    diagnostics: bool = False  # log task-gradient norms and cosines at the last shared layer
    optimizer: str = "adam"  # adam | adamw | sgd
    momentum: float = 0.0  # sgd only
    nesterov: bool = False  # sgd only
    schedule: str = "constant"  # constant | cosine | step
    warmup_epochs: int = 0  # linear warmup before the schedule
    step_size: int = 1  # schedule "step": epochs between two decays
    gamma: float = 0.1  # schedule "step": the factor of each decay
    clip_grad_norm: float = 0.0  # 0: no clipping
    head_lr: Mapping[str, float] = field(default_factory=dict)
    trunk_lr: float | None = None
    accumulate: int = 1
    patience: int = 0  # 0: no early stopping
    min_delta: float = 0.0

    @classmethod
    def from_suite(
        cls,
        epochs: int,
        batch_size: int,
        optimizer: Mapping[str, object],
        accumulate: int = 1,
        early_stopping: Mapping[str, object] | None = None,
        **settings: object,
    ) -> TrainConfig:
        """From a suite's resolved ``[optimizer]`` table, ``accumulate`` and ``[early_stopping]`` table;
        ``settings`` are the other fields (seed, device, diagnostics)."""
        options = dict(optimizer)
        options["optimizer"] = options.pop("name", "adam")
        return cls(epochs, batch_size, accumulate=accumulate, **options, **(early_stopping or {}), **settings)
