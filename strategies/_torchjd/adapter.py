"""The adapter from torchjd's aggregators and weightings to mimo-bench's step contract.

Each step a `TorchjdStrategy` takes one ``torch.autograd.grad`` per task (`benchmark.api.gradients`):
  * ``on = "shared"`` (default): over the shared parameters, so the T x P matrix J is the Jacobian of
    the task losses w.r.t. them, as the papers define it; the aggregated direction goes into their
    ``.grad``.
  * ``on = "representation"``: over the shared representation (the trunk output every head reads,
    ``ctx.representation``); J is T x (batch x width), the direction is aggregated there and
    back-propagated once through the trunk (MGDA-UB's and LibMTL's ``rep_grad`` variant).
Each task's head gets the plain gradient of its own loss from the same call (weight 1), as in torchjd's
``mtl_backward`` and LibMTL.  The method's math is torchjd's: a Gramian weighting (weights from
G = J J^T), a matrix weighting (weights from J) or an aggregator (a direction from J, no weights).
Effective weights (``weight/<task>``) are the method's weights w (direction = w^T J); for an
aggregator without weights, the coefficient of the direction d's projection onto each task gradient,
<d, g_t> / ||g_t||^2.  Both may be negative.  ``strategy/conflicts`` is the epoch's mean share of task
pairs with a negative inner product <g_a, g_b> (from G, in the space the method works in).
Stochastic methods draw from ``ctx.generator``: a seed from it seeds torch's CPU (or the device's)
generator inside `torch.random.fork_rng`, so the global stream is left as it was.
torchjd's stateful objects keep their state in plain attributes and ``None`` buffers; the adapter holds
the torchjd object outside the module tree and saves the attributes a method names in ``state`` as
extra state (tensors only, so ``torch.load(weights_only=True)`` reads it).
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from benchmark.api import add_to_grad, apply_direction, conflict_share, flatten, task_gradients
from benchmark.api.options import choice_option, float_option, int_option
from benchmark.api.problem import TaskSpec
from benchmark.api.strategy import GradientStrategy, StepContext, TaskWeights

VARIANTS = ("shared", "representation")
FORMS = ("gramian", "matrix", "direction")
INSTALL_HINT = "pip install 'torchjd[full]>=0.18,<0.19' (a dependency of mimo-bench: reinstall it)"


@dataclass(frozen=True)
class Setting:
    """One constructor keyword of a method: default, validation and (optionally) its search range."""

    default: Any
    check: Callable[[str, str, Any], Any]  # (owner, option, value) -> the value, normalised; raises MimoBenchError
    search: Callable[[Any, str], Any] | None = None  # (trial, option) -> a sampled value


def number(requirement: str, valid: Callable[[float], bool]) -> Callable[[str, str, Any], float]:
    return lambda owner, option, value: float_option(owner, option, value, requirement, valid)


def integer(minimum: int) -> Callable[[str, str, Any], int]:
    return lambda owner, option, value: int_option(owner, option, value, minimum)


def choice(*allowed: str) -> Callable[[str, str, Any], str]:
    return lambda owner, option, value: choice_option(owner, option, value, allowed)


NON_NEGATIVE = number("a finite number >= 0", lambda v: v >= 0)
POSITIVE = number("a positive number", lambda v: v > 0)
UNIT = number("a number in [0, 1]", lambda v: 0 <= v <= 1)


def uniform(low: float, high: float, log: bool = False) -> Callable[[Any, str], float]:
    return lambda trial, option: trial.suggest_float(option, low, high, log=log)


class TorchjdStrategy(GradientStrategy):
    """Base of the torchjd family: subclasses set the traits and `make` the torchjd object."""

    form: ClassVar[str] = "gramian"  # what the torchjd object takes and gives (FORMS)
    settings: ClassVar[Mapping[str, Setting]] = {}  # the method's own keywords ("on" is added)
    variants: ClassVar[tuple[str, ...]] = VARIANTS  # where its gradients may be taken
    stochastic: ClassVar[bool] = False  # draws random numbers (from ctx.generator)
    solvers: ClassVar[tuple[str, ...]] = ()  # optional modules it needs (import names)
    state: ClassVar[tuple[str, ...]] = ()  # attributes of the torchjd object that are its state
    signed_weights: ClassVar[bool] = True  # effective weights may be negative
    perf_cases: ClassVar[tuple[dict[str, Any], ...]] = ()  # extra configurations `mimo-bench perf` times

    def __init__(self, tasks: Sequence[TaskSpec], **options: Any):
        super().__init__(tasks)
        unknown = sorted(set(options) - set(self.options()))
        if unknown:
            raise self._error(f"unknown option(s) {unknown}; allowed: {sorted(self.options())}")
        self.on = choice_option(self.owner, "on", options.pop("on", "shared"), self.variants)
        for option, setting in self.settings.items():
            setattr(self, option, setting.check(self.owner, option, options.get(option, setting.default)))
        missing = [module for module in self.needed_solvers() if importlib.util.find_spec(module) is None]
        if missing:
            raise self._error(f"needs the solver package(s) {missing}, which are not installed: {INSTALL_HINT}")
        self.__dict__["method"] = self.make()  # outside the module tree: its None buffers stay out of state_dict
        self.register_buffer("conflict_sum", torch.zeros(()))
        self.register_buffer("conflict_steps", torch.zeros((), dtype=torch.long))

    def make(self) -> torch.nn.Module:
        """The torchjd weighting or aggregator, built from this instance's options."""
        raise NotImplementedError

    def needed_solvers(self) -> tuple[str, ...]:
        """The optional modules this configuration needs (``solvers`` unless an option changes them)."""
        return self.solvers

    @classmethod
    def options(cls) -> dict[str, Any]:
        return {**{k: s.default for k, s in cls.settings.items()}, "on": "shared"}

    @classmethod
    def search_space(cls, trial: Any, tasks: Sequence[TaskSpec]) -> dict[str, Any]:
        return {option: s.search(trial, option) for option, s in cls.settings.items() if s.search is not None}

    # -- the step ------------------------------------------------------------------------
    def backward(self, ctx: StepContext) -> TaskWeights:
        if self.on == "representation":
            if ctx.representation is None:
                raise ValueError(f"{self.owner}: on='representation' needs ctx.representation")
            targets = [ctx.representation]
        else:
            targets = [p for p in ctx.shared_parameters if p.requires_grad]
        losses = [ctx.losses[name] for name in self.task_names]
        heads = [[p for p in ctx.task_parameters.get(name, []) if p.requires_grad] for name in self.task_names]
        per_target, per_head = task_gradients(losses, targets, heads, retain_graph=self.on == "representation")
        for params, grads in zip(heads, per_head, strict=True):
            add_to_grad(params, grads)
        matrix = torch.stack([flatten(grads) for grads in per_target])
        with torch.no_grad():
            gramian = matrix @ matrix.T
            with self._seeded(ctx.generator, matrix.device):
                weights, direction = self.aggregate(matrix, gramian)
            self.conflict_sum += conflict_share(gramian)
            self.conflict_steps += 1
        apply_direction(direction, targets)
        return dict(zip(self.task_names, weights.to(matrix.dtype), strict=True))

    def aggregate(self, matrix: torch.Tensor, gramian: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The effective weights and the direction, from J (T x P) and its Gramian."""
        if self.form == "direction":
            direction = self.method(matrix)
            return (matrix @ direction) / gramian.diagonal().clamp_min(torch.finfo(matrix.dtype).tiny), direction
        weights = self.method(gramian if self.form == "gramian" else matrix).to(matrix.dtype)
        return weights, weights @ matrix

    @contextlib.contextmanager
    def _seeded(self, generator: torch.Generator | None, device: torch.device) -> Iterator[None]:
        """torch's global generator of ``device``, seeded from ``generator``, for the duration (then restored)."""
        if not self.stochastic or generator is None:
            yield
            return
        seed = int(torch.randint(0, 2**62, (), generator=generator))
        on_cuda = device.type == "cuda"
        with torch.random.fork_rng(devices=[device] if on_cuda else []):
            (torch.cuda.default_generators[device.index or 0] if on_cuda else torch.default_generator).manual_seed(seed)
            yield

    # -- epoch and state -----------------------------------------------------------------
    def epoch_metrics(self) -> dict[str, float]:
        steps = int(self.conflict_steps)
        return {"conflicts": float(self.conflict_sum) / steps} if steps else {}

    def end_epoch(self, epoch: int, train_losses: Mapping[str, float], val_metrics: Mapping[str, float]) -> None:
        self.conflict_sum.zero_()
        self.conflict_steps.zero_()

    def get_extra_state(self) -> dict[str, torch.Tensor]:
        """The torchjd object's state attributes as tensors (None ones left out)."""
        saved = {}
        for attribute in self.state:
            value = getattr(self.method_state_owner(), attribute)
            if isinstance(value, torch.Tensor):
                saved[attribute] = value.detach().clone()
            elif isinstance(value, np.ndarray):
                saved[attribute] = torch.from_numpy(value.copy())
            elif value is not None:
                saved[attribute] = torch.tensor(value)
        return saved

    def set_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        owner = self.method_state_owner()
        for attribute in self.state:
            current, value = getattr(owner, attribute), state.get(attribute)
            if value is None:
                continue
            if isinstance(current, np.ndarray):
                value = value.cpu().numpy().copy()
            elif isinstance(current, bool | int | float):
                value = type(current)(value.item())
            setattr(owner, attribute, value)
        self.restored()

    def method_state_owner(self) -> Any:
        """The torchjd object that holds the ``state`` attributes (the weighting itself by default)."""
        return self.method

    def restored(self) -> None:
        """Called after the state is loaded, to rebuild what torchjd derives from it."""
