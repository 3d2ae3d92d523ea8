"""Every built-in strategy's bad options raise the project's error with a clear message."""

from __future__ import annotations

import math

import pytest

from benchmark.api.errors import MimoBenchError
from strategies.alternating import Alternating
from strategies.dwa import DWA
from strategies.gradnorm import GradNorm
from strategies.imtl_l import ImtlL
from strategies.normalized import Normalized
from strategies.rlw import RLW
from strategies.uncertainty import Uncertainty
from strategies.uncertainty_reg import UncertaintyReg
from tests.unit.strategies.steps import (
    REGRESSION,
)


@pytest.mark.parametrize(
    ("cls", "options", "message"),
    [
        (Normalized, {"scale": "ema"}, r"scale must be one of \['running', 'initial'\], got 'ema'"),
        (Normalized, {"decay": 1.0}, r"decay must be a number in \[0, 1\), got 1.0"),
        (Normalized, {"warmup": 0}, "warmup must be an integer >= 1"),
        (Normalized, {"weights": {"a": 1, "b": -1}}, "weights.b must be >= 0, got -1"),
        (Normalized, {"weights": {"a": 0, "b": 0}}, "weights are all zero"),
        (Normalized, {"weights": {"a": 1}}, r"weights is missing task\(s\) \['b'\]"),
        (Uncertainty, {"init_log_variance": math.nan}, "init_log_variance must be a finite number"),
        (Uncertainty, {"init_log_variance": {"a": 0, "z": 1}}, r"init_log_variance names unknown task\(s\) \['z'\]"),
        (Uncertainty, {"init_log_variance": {"a": 0, "b": "1"}}, "init_log_variance.b must be a finite number"),
        (Uncertainty, {"lr": 0}, "lr must be a positive number or None"),
        (GradNorm, {"alpha": -0.5}, "alpha must be a finite number >= 0"),
        (GradNorm, {"lr": math.inf}, "lr must be a positive number"),
        (GradNorm, {"layer": "first"}, r"layer must be one of \['last', 'last_with_bias', 'shared'\]"),
        (GradNorm, {"warmup": 1.5}, "warmup must be an integer >= 1"),
        (Alternating, {"schedule": "cyclic"}, r"schedule must be one of \['round_robin', 'random', 'focus'\]"),
        (Alternating, {"tasks_per_step": 3}, r"tasks_per_step must be an integer in \[1, 2\], got 3"),
        (Alternating, {"probabilities": {"a": 1, "b": 1}}, "probabilities apply to schedule 'random' or 'focus'"),
        (Alternating, {"schedule": "random", "probabilities": {"a": -1, "b": 1}}, "probabilities.a must be"),
        (
            Alternating,
            {"schedule": "random", "probabilities": {"a": 0, "b": 0}},
            "probabilities must be positive for at least tasks_per_step=1",
        ),
        (Alternating, {"schedule": "focus", "focus_period": 0}, "focus_period must be an integer >= 1"),
        (Alternating, {"schedule": "focus", "focus_boost": 0.5}, "focus_boost must be a finite number >= 1"),
        (Alternating, {"schedule": "random", "accumulate": True}, "accumulate=true .* schedule='round_robin'"),
        (Alternating, {"accumulate": 1}, "accumulate must be true or false"),
        (Alternating, {"seed": -1}, "seed must be an integer >= 0"),
        (DWA, {"temperature": 0}, "temperature must be a positive finite number, got 0"),
        (DWA, {"temperature": math.inf}, "temperature must be a positive finite number"),
        (RLW, {"distribution": "gaussian"}, r"distribution must be one of \['normal', 'uniform', 'dirichlet', "),
        (ImtlL, {"lr": -0.1}, "lr must be a positive number or None"),
        (UncertaintyReg, {"lr": 0}, "lr must be a positive number or None"),
        (UncertaintyReg, {"init_log_variance": math.inf}, "init_log_variance must be a finite number"),
    ],
)
def test_bad_options_raise_a_clear_error(cls, options, message):
    with pytest.raises(MimoBenchError, match=f"strategy '{cls.name}': {message}"):
        cls(REGRESSION, **options)
