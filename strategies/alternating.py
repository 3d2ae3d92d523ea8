"""Task scheduling: each step back-propagates only the scheduled task(s)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from benchmark.api import (
    GradientStrategy,
    StepContext,
    TaskSpec,
    TaskWeights,
    add_to_grad,
    bool_option,
    choice_option,
    float_option,
    int_option,
    task_gradients,
    task_table,
)

SCHEDULES = ("round_robin", "random", "focus")
MIN_REFERENCE = 1e-12  # floor of |best| when measuring progress relative to it


class Alternating(GradientStrategy):
    """Task scheduling: step n back-propagates sum_{t in S(n)} L_t only; other tasks get no gradient.

    S(n) holds ``tasks_per_step`` = k tasks; the rest get no ``.grad`` at all, so with Adam their heads
    stay bit-identical.  Effective weights: 1 for scheduled tasks, 0 otherwise.  ``schedule``:
      * ``round_robin``: tasks nk .. nk+k-1 (mod T) in task order;
      * ``random``: k tasks drawn without replacement with ``probabilities`` (keyed by task, default
        uniform) from a generator seeded with ``seed`` (default the trainer's, ``torch.initial_seed()``);
      * ``focus``: ``random`` with the furthest-behind task's probability times ``focus_boost``,
        re-decided every ``focus_period`` steps from the latest end-of-epoch val metrics.  A task's
        progress is its primary metric's relative gain over its best before that epoch,
        d_t (m_t - best_t) / |best_t| (d_t = +1 if higher is better, else -1; < 0 if it got worse);
        the furthest behind has the least progress; none is focused while all are equal (epoch 1).
    ``accumulate=True`` (round robin, k = 1): the optimizer steps once per T batches, on the sum of one
    batch's gradient per task, so every task enters every optimizer step, each with its own batch.  The
    gradients are held aside and put into ``.grad`` on the cycle's last step (until then no ``.grad``
    is set and the optimizer leaves the net alone); a cycle cut short by the end of training is
    dropped.  This is a scheduled variant, not the suite's ``accumulate = N`` (which runs the whole
    strategy on N batches per optimizer step, every batch seeing that step's task): with both, each
    step's task is trained on N batches and the cycle's steps are summed as here.
    ``share/<task>`` (`epoch_metrics`, logged as ``strategy/share/<task>``): the fraction of the epoch's
    steps that trained the task.

    No single paper: the task-sampling baseline of multi-task training; ``focus`` is this harness's
    periodic focusing on lagging tasks.  The generator's state is part of ``state_dict``; gradients held
    by ``accumulate`` across an epoch boundary are not, so a resumed accumulate run may differ.
    Search space: schedule; for ``focus``, focus_period log-int in [10, 1000], focus_boost log in [1.5, 8].
    """

    name = "alternating"
    step_cost_target = 1.05

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        *,
        schedule: str = "round_robin",
        tasks_per_step: int = 1,
        probabilities: Mapping[str, float] | None = None,
        focus_period: int = 100,
        focus_boost: float = 4.0,
        accumulate: bool = False,
        seed: int | None = None,
    ):
        super().__init__(tasks)
        count = len(self.task_names)
        self.schedule = choice_option(self.owner, "schedule", schedule, SCHEDULES)
        self.tasks_per_step = int_option(self.owner, "tasks_per_step", tasks_per_step, maximum=count)
        self.focus_period = int_option(self.owner, "focus_period", focus_period)
        self.focus_boost = float_option(
            self.owner, "focus_boost", focus_boost, "a finite number >= 1", lambda v: v >= 1
        )
        self.accumulate = bool_option(self.owner, "accumulate", accumulate)
        if accumulate and (schedule != "round_robin" or tasks_per_step != 1):
            raise self._error(
                "accumulate=true visits every task once per optimizer step: it needs "
                "schedule='round_robin' and tasks_per_step=1"
            )
        self.seed = None if seed is None else int_option(self.owner, "seed", seed, minimum=0)
        self.probabilities = None if probabilities is None else self._validated_probabilities(probabilities)
        table = self.probabilities or dict.fromkeys(self.task_names, 1.0)
        self._probabilities = torch.tensor([table[n] for n in self.task_names], dtype=torch.float64)
        self._generator = torch.Generator().manual_seed(torch.initial_seed() if seed is None else seed)
        self._direction = torch.tensor([1.0 if t.metrics[t.primary_metric] else -1.0 for t in self.tasks])
        self.register_buffer("best_metric", torch.full((count,), math.nan))
        self.register_buffer("behind", torch.tensor(-1))
        self.register_buffer("focus", torch.tensor(-1))
        self._counts, self._steps = [0] * count, 0
        self._held: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def _validated_probabilities(self, probabilities: Mapping[str, float]) -> dict[str, float]:
        if self.schedule == "round_robin":
            raise self._error("probabilities apply to schedule 'random' or 'focus', not 'round_robin'")
        table = task_table(self.owner, "probabilities", probabilities, self.task_names)
        if sum(p > 0 for p in table.values()) < self.tasks_per_step:
            raise self._error(
                f"probabilities must be positive for at least tasks_per_step={self.tasks_per_step} task(s)"
            )
        return table

    def backward(self, ctx: StepContext) -> TaskWeights:
        chosen = self._scheduled(ctx.step)
        loss = sum(ctx.losses[self.task_names[i]] for i in chosen)
        if self.accumulate:
            parameters = ctx.shared_parameters + [p for i in chosen for p in ctx.task_parameters[self.task_names[i]]]
            self._accumulate(loss, parameters, apply=ctx.step % len(self.task_names) == len(self.task_names) - 1)
        else:
            loss.backward()
        for i in chosen:
            self._counts[i] += 1
        self._steps += 1
        weights = torch.zeros(len(self.task_names), device=loss.device)
        weights[chosen] = 1.0
        return dict(zip(self.task_names, weights, strict=True))

    def _scheduled(self, step: int) -> list[int]:
        count, k = len(self.task_names), self.tasks_per_step
        if self.schedule == "round_robin":
            return [(step * k + j) % count for j in range(k)]
        if self.schedule == "focus" and step % self.focus_period == 0:
            self.focus.copy_(self.behind)
        probabilities = self._probabilities.clone()
        if (focus := int(self.focus)) >= 0:
            probabilities[focus] *= self.focus_boost
        return torch.multinomial(probabilities, k, generator=self._generator).tolist()

    def _accumulate(self, loss: torch.Tensor, parameters: list[torch.Tensor], apply: bool) -> None:
        (grads,), _ = task_gradients([loss], parameters, retain_graph=False)
        for parameter, grad in zip(parameters, grads, strict=True):
            held = self._held.get(id(parameter))
            self._held[id(parameter)] = (parameter, grad if held is None else held[1] + grad)
        if apply:
            add_to_grad([leaf for leaf, _ in self._held.values()], [grad for _, grad in self._held.values()])
            self._held.clear()

    def get_extra_state(self) -> dict[str, torch.Tensor]:
        """The sampling generator's state, so a resumed run draws the same schedule."""
        return {"generator": self._generator.get_state()}

    def set_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        self._generator.set_state(state["generator"])

    def epoch_metrics(self) -> dict[str, float]:
        return {f"share/{n}": c / max(self._steps, 1) for n, c in zip(self.task_names, self._counts, strict=True)}

    def end_epoch(self, epoch: int, train_losses: Mapping[str, float], val_metrics: Mapping[str, float]) -> None:
        self._counts, self._steps = [0] * len(self.task_names), 0
        if self.schedule != "focus":
            return
        current = torch.tensor([val_metrics[f"val/{t.name}/{t.primary_metric}"] for t in self.tasks])
        best, sign = self.best_metric.cpu(), self._direction
        progress = sign * (current - best) / best.abs().clamp_min(MIN_REFERENCE)
        self.best_metric.copy_(torch.where(best.isnan(), current, sign * torch.maximum(sign * best, sign * current)))
        lagging = not progress.isnan().any() and bool(progress.max() > progress.min())
        self.behind.fill_(int(progress.argmin()) if lagging else -1)

    @classmethod
    def search_space(cls, trial: Any, tasks: Sequence[TaskSpec]) -> dict[str, Any]:
        schedule = trial.suggest_categorical("schedule", list(SCHEDULES))
        if schedule != "focus":
            return {"schedule": schedule}
        return {
            "schedule": schedule,
            "focus_period": trial.suggest_int("focus_period", 10, 1000, log=True),
            "focus_boost": trial.suggest_float("focus_boost", 1.5, 8.0, log=True),
        }
