"""The GradNorm paper's regression toy: T tasks of one functional form whose output scales sigma_t differ."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from benchmark.api.errors import MimoBenchError
from benchmark.api.options import int_option, is_number, option_error
from benchmark.api.problem import InputSpec, Problem, ProblemData, Split, TaskSpec, cached_tensors

GENERATOR_VERSION = 1  # bump whenever the draws change, so stale caches are not read
SHARED_STD = 10.0  # B ~ N(0, 10^2) elementwise
TASK_STD = 3.5  # eps_t ~ N(0, 3.5^2) elementwise
SIGMA_RANGE = (1.0, 100.0)  # default sigmas: geometrically spaced over this range ((1, 100) for T = 2)


def default_sigmas(tasks: int) -> tuple[float, ...]:
    """The scales used when none are given: the paper's (1, 100) for T = 2, geometrically spaced from 1 to 100 for
    other T (the paper draws its T = 10 scales only in Figure 2's diagram; this spacing is our choice)."""
    return tuple(float(v) for v in np.geomspace(*SIGMA_RANGE, tasks)) if tasks > 1 else (SIGMA_RANGE[0],)


def task_names(tasks: int) -> list[str]:
    return [f"task{index:0{len(str(tasks - 1))}d}" for index in range(tasks)]


class GradNormToy(Problem):
    """GradNorm's toy (Chen et al. 2018, §4): x in R^250 -> f_t(x) = sigma_t tanh((B + eps_t) x) in R^100, t < T.

    x ~ N(0, I); B ~ N(0, 10^2) and eps_t ~ N(0, 3.5^2) elementwise, output_dim x input_dim, fixed by
    ``data_seed``: the tasks share B and differ by eps_t and by the scale sigma_t, so a task with a larger sigma_t
    has a larger squared loss and larger gradients.  Defaults are the paper's T = 2 case, sigma = (1, 100); for
    other ``num_tasks`` the sigmas default to a geometric range from 1 to 100 (``sigmas`` sets them).  Each sigma_t is
    also the task's loss scale under a plain sum: the heads' ``output_scale`` stays 1, as in the paper.
    Draws, each from its own stream so that the first tasks and the inputs do not depend on T:
    ``B = default_rng([data_seed, 0]).normal(0, 10, (output_dim, input_dim))``,
    ``eps_t = default_rng([data_seed, 1, t]).normal(0, 3.5, (output_dim, input_dim))``,
    ``x = default_rng([data_seed, 2]).normal(size=(samples, input_dim))`` with test rows first, then val, then train;
    the targets are computed in float64 and stored as float32.  The paper does not state its sample counts.
    """

    name = "gradnorm_toy"

    def __init__(
        self,
        *,
        num_tasks: int = 2,
        sigmas: Sequence[float] = (),
        input_dim: int = 250,
        output_dim: int = 100,
        train_samples: int = 10000,
        val_samples: int = 1000,
        test_samples: int = 1000,
        data_seed: int = 0,
    ):
        self.num_tasks = int_option(self.owner, "num_tasks", num_tasks)
        self.sigmas = self._sigmas(sigmas)
        self.input_dim = int_option(self.owner, "input_dim", input_dim)
        self.output_dim = int_option(self.owner, "output_dim", output_dim)
        self.train_samples = int_option(self.owner, "train_samples", train_samples)
        self.val_samples = int_option(self.owner, "val_samples", val_samples)
        self.test_samples = int_option(self.owner, "test_samples", test_samples)
        self.data_seed = int_option(self.owner, "data_seed", data_seed, minimum=0)

    def _sigmas(self, sigmas: object) -> tuple[float, ...]:
        if isinstance(sigmas, str) or not isinstance(sigmas, Sequence):
            raise option_error(self.owner, "sigmas", "an array of positive numbers, one per task", sigmas)
        if not sigmas:
            return default_sigmas(self.num_tasks)
        if not all(is_number(v) and v > 0 for v in sigmas):
            raise option_error(self.owner, "sigmas", "an array of positive numbers, one per task", sigmas)
        if len(sigmas) != self.num_tasks:
            raise MimoBenchError(
                f"{self.owner}: sigmas has {len(sigmas)} values for num_tasks = {self.num_tasks}; give one each"
            )
        return tuple(float(v) for v in sigmas)

    def specs(self) -> tuple[tuple[InputSpec, ...], tuple[TaskSpec, ...]]:
        inputs = (InputSpec("x", "vector", (self.input_dim,)),)
        return inputs, tuple(TaskSpec(name, "regression", dim=self.output_dim) for name in task_names(self.num_tasks))

    @property
    def samples(self) -> int:
        return self.test_samples + self.val_samples + self.train_samples

    def generate(self) -> dict[str, torch.Tensor]:
        """Inputs and every task's targets, all splits in one array (test, val, train); a pure function of the options."""
        shape = (self.output_dim, self.input_dim)
        shared = np.random.default_rng([self.data_seed, 0]).normal(0.0, SHARED_STD, shape)
        x = np.random.default_rng([self.data_seed, 2]).normal(size=(self.samples, self.input_dim))
        data = {"x": torch.from_numpy(x).float()}
        for index, (name, sigma) in enumerate(zip(task_names(self.num_tasks), self.sigmas, strict=True)):
            specific = np.random.default_rng([self.data_seed, 1, index]).normal(0.0, TASK_STD, shape)
            data[name] = torch.from_numpy(sigma * np.tanh(x @ (shared + specific).T)).float()
        return data

    def load(self, seed: int) -> ProblemData:
        """The fixed test rows; the run ``seed`` deals the other rows into val and train."""
        key = {"version": GENERATOR_VERSION, **vars(self)}
        data, hit = cached_tensors(self.name, key, self.generate)
        names = task_names(self.num_tasks)
        whole = Split({"x": data["x"]}, {name: data[name] for name in names})
        rest = self.test_samples + torch.randperm(
            self.samples - self.test_samples, generator=torch.Generator().manual_seed(seed)
        )
        test = torch.arange(self.test_samples)
        val, train = (torch.sort(part).values for part in (rest[: self.val_samples], rest[self.val_samples :]))
        inputs, tasks = self.specs()
        info = {"cache": "hit" if hit else "miss", "sigmas": list(self.sigmas)}
        return ProblemData(inputs, tasks, whole.subset(train), whole.subset(val), whole.subset(test), info=info)
