"""What a plugin author imports: the strategy and problem contracts, option validators, errors and the registries.

Every name here is loaded on first use, so ``from benchmark.api import MimoBenchError`` stays free of torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module of benchmark.api that defines it
_HOMES = {
    "MimoBenchError": "errors",
    "PluginError": "errors",
    "did_you_mean": "errors",
    "bool_option": "options",
    "choice_option": "options",
    "float_option": "options",
    "int_option": "options",
    "option_error": "options",
    "task_table": "options",
    "task_weights": "options",
    "InputSpec": "problem",
    "Problem": "problem",
    "ProblemData": "problem",
    "Split": "problem",
    "TaskSpec": "problem",
    "cached_tensors": "problem",
    "stratified_split": "problem",
    "GradientStrategy": "strategy",
    "LossWeighting": "strategy",
    "StepContext": "strategy",
    "Strategy": "strategy",
    "TaskWeights": "strategy",
    "add_to_grad": "gradients",
    "apply_direction": "gradients",
    "conflict_share": "gradients",
    "flatten": "gradients",
    "gradient_norm": "gradients",
    "task_gradients": "gradients",
    "task_jacobian": "gradients",
    "PROBLEMS": "registry",
    "STRATEGIES": "registry",
    "Registry": "registry",
}
__all__ = [
    "add_to_grad",
    "apply_direction",
    "conflict_share",
    "flatten",
    "gradient_norm",
    "task_gradients",
    "task_jacobian",
    "GradientStrategy",
    "InputSpec",
    "LossWeighting",
    "MimoBenchError",
    "PROBLEMS",
    "PluginError",
    "Problem",
    "ProblemData",
    "Registry",
    "STRATEGIES",
    "Split",
    "StepContext",
    "Strategy",
    "TaskSpec",
    "TaskWeights",
    "bool_option",
    "cached_tensors",
    "choice_option",
    "did_you_mean",
    "float_option",
    "int_option",
    "option_error",
    "stratified_split",
    "task_table",
    "task_weights",
]

if TYPE_CHECKING:
    from benchmark.api.errors import MimoBenchError, PluginError, did_you_mean
    from benchmark.api.gradients import (
        add_to_grad,
        apply_direction,
        conflict_share,
        flatten,
        gradient_norm,
        task_gradients,
        task_jacobian,
    )
    from benchmark.api.options import (
        bool_option,
        choice_option,
        float_option,
        int_option,
        option_error,
        task_table,
        task_weights,
    )
    from benchmark.api.problem import InputSpec, Problem, ProblemData, Split, TaskSpec, cached_tensors, stratified_split
    from benchmark.api.registry import PROBLEMS, STRATEGIES, Registry
    from benchmark.api.strategy import GradientStrategy, LossWeighting, StepContext, Strategy, TaskWeights


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'benchmark.api' has no attribute {name!r}")
    return getattr(importlib.import_module(f"benchmark.api.{_HOMES[name]}"), name)


def __dir__() -> list[str]:
    return __all__
