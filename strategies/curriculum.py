"""Curriculum: tasks enter training one after another, easiest first, each ramping in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from benchmark.api import GradientStrategy, StepContext, TaskSpec, TaskWeights, add_to_grad, int_option

AUTO = "auto"
NOT_ENTERED = -1


class Curriculum(GradientStrategy):
    """Curriculum: L = sum_t w_t(e) L_t, where task t enters at epoch E_t and ramps in linearly.

    The k-th task of the order enters at epoch E = 1 + k * ``stagger``; at epoch e its weight is
    0 before E and min(1, (e - E + 1) / ``ramp``) from E on (``ramp = 1``: full weight at once).
    ``order``: a list naming every task (easiest first), or ``"auto"``: at each entry epoch the task not
    yet entered with the highest difficulty score enters (ties: task order).  The score is measured on
    val only, at the end of the epoch before: for a classification task its primary metric against
    chance, (acc - 1/C) / (1 - 1/C); for a regression task its relative improvement 1 - mae / mae_first,
    mae_first being its val MAE at the end of epoch 1 (0 until then).  So that the score says how well
    the shared features already serve a task, ``auto`` trains the head of every task not yet entered as
    a probe: that head gets the gradient of its own loss, the shared parameters get none of it.  Before
    any val metric exists (epoch 1) the first task in task order enters.
    ``entry_epoch/<task>`` (logged as ``strategy/entry_epoch/<task>``) is each entered task's entry epoch.

    Bengio et al., "Curriculum learning", ICML 2009 (easy-to-hard ordering); for tasks rather than
    samples, Pentina, Sharmanska & Lampert, "Curriculum learning of multiple tasks", CVPR 2015, who
    learn tasks in sequence.  Deviations: the linear ramp and the probe-based difficulty score are this
    harness's choices; Pentina et al. order tasks by a transfer bound between task pairs, which needs
    the tasks trained one by one.  The entry epochs and the scores' reference MAEs are checkpointed.
    Search space: stagger int in [1, 3], ramp int in [1, 3].
    """

    name = "curriculum"
    step_cost_target = 1.05

    def __init__(
        self, tasks: Sequence[TaskSpec], *, order: str | Sequence[str] = AUTO, stagger: int = 1, ramp: int = 1
    ):
        super().__init__(tasks)
        self.order = self._validated_order(order)
        self.stagger = int_option(self.owner, "stagger", stagger)
        self.ramp = int_option(self.owner, "ramp", ramp)
        count = len(self.task_names)
        entries = [NOT_ENTERED] * count
        if self.order != AUTO:
            for position, name in enumerate(self.order):
                entries[self.task_names.index(name)] = 1 + position * self.stagger
        self.register_buffer("entry", torch.tensor(entries))
        self.register_buffer("first_mae", torch.zeros(count, dtype=torch.float64))
        self.register_buffer("score", torch.zeros(count, dtype=torch.float64))

    def _validated_order(self, order: object) -> str | list[str]:
        if order == AUTO:
            return AUTO
        if not isinstance(order, list | tuple) or sorted(order) != sorted(self.task_names):
            raise self._error(
                f"order must be 'auto' or a list naming every task once {list(self.task_names)}, got {order!r}"
            )
        return list(order)

    def weights(self, epoch: int) -> torch.Tensor:
        """Each task's weight at ``epoch`` (from 1), entering tasks as their entry epoch comes."""
        if self.order == AUTO:
            self._enter_due(epoch)
        entry = self.entry.double()
        ramped = ((epoch - entry + 1) / self.ramp).clamp(max=1.0)
        return torch.where((self.entry != NOT_ENTERED) & (entry <= epoch), ramped, torch.zeros_like(ramped))

    def _enter_due(self, epoch: int) -> None:
        entered = int((self.entry != NOT_ENTERED).sum())
        while entered < len(self.task_names) and 1 + entered * self.stagger <= epoch:
            waiting = torch.where(self.entry == NOT_ENTERED, self.score, torch.full_like(self.score, -torch.inf))
            self.entry[int(waiting.argmax())] = 1 + entered * self.stagger  # argmax: the first of ties
            entered += 1

    def backward(self, ctx: StepContext) -> TaskWeights:
        weights = self.weights(ctx.epoch)
        losses = [ctx.losses[name] for name in self.task_names]
        total = sum(float(w) * loss for w, loss in zip(weights, losses, strict=True) if w > 0)
        probes = [i for i, w in enumerate(weights) if w == 0] if self.order == AUTO else []
        if probes:
            heads = [p for i in probes for p in ctx.task_parameters[self.task_names[i]]]
            grads = torch.autograd.grad(sum(losses[i] for i in probes), heads, retain_graph=True, allow_unused=True)
            used = [(p, g) for p, g in zip(heads, grads, strict=True) if g is not None]
        total.backward()
        if probes:
            add_to_grad([p for p, _ in used], [g for _, g in used])
        return dict(zip(self.task_names, weights.to(losses[0].device, losses[0].dtype), strict=True))

    def end_epoch(self, epoch: int, train_losses: Mapping[str, float], val_metrics: Mapping[str, float]) -> None:
        for i, task in enumerate(self.tasks):
            value = val_metrics.get(f"val/{task.name}/{task.primary_metric}")
            if value is None:
                continue
            if task.kind == "classification":
                chance = 1.0 / (task.num_classes or 2)
                self.score[i] = (value - chance) / (1.0 - chance)
            else:
                if self.first_mae[i] == 0:
                    self.first_mae[i] = max(value, 1e-12)
                self.score[i] = 1.0 - value / float(self.first_mae[i])

    def epoch_metrics(self) -> dict[str, float]:
        return {
            f"entry_epoch/{n}": float(e) for n, e in zip(self.task_names, self.entry.tolist(), strict=True) if e > 0
        }

    @classmethod
    def search_space(cls, trial: Any, tasks: Sequence[TaskSpec]) -> dict[str, Any]:
        return {"stagger": trial.suggest_int("stagger", 1, 3), "ramp": trial.suggest_int("ramp", 1, 3)}
