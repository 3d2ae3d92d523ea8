"""UPGrad and MGDA on the shared parameters: torchjd's autogram Gramian engine against mimo-bench's Jacobian path.

Both on the same net and batch, interleaved with `sum` (one thread).  The engine needs ``batch_dim=None``
here: the glyphs net has a GRU encoder, which torchjd's batched mode refuses.  Usage:

    python experiments/autogram_vs_jacobian.py experiments/perf_gradient_quick.toml STEPS ROUNDS
"""

import functools
import sys
import time

import torch
from torchjd.aggregation import MGDAWeighting, UPGradWeighting
from torchjd.autogram import Engine

from benchmark.api.registry import PROBLEMS, STRATEGIES
from benchmark.perf.timing import _build, ratio, timed_rounds
from benchmark.run.runner import model_config
from benchmark.suite.schema import load_suite
from benchmark.train.metrics import task_loss
from benchmark.train.trainer import TrainConfig, Trainer

torch.set_num_threads(1)
suite = load_suite(sys.argv[1])
steps = int(sys.argv[2])
rounds = int(sys.argv[3])
data = PROBLEMS.get(suite.problem)(**suite.problem_options).load(0)
batch = data.train.subset(torch.arange(suite.batch_size))
cfg = TrainConfig(1, suite.batch_size, suite.optimizer["lr"], seed=0)


def trainer(name, **p):
    return Trainer(data, model_config(suite), functools.partial(_build, STRATEGIES.get(name), p), cfg)


def autogram_step(t, engine, weighting):
    t.optimizer.zero_grad(set_to_none=True)
    out = t.model(batch.inputs)
    losses = torch.stack([task_loss(k, out[k.name], batch.targets[k.name]) for k in t.tasks])
    gramian = engine.compute_gramian(losses)
    losses.backward(weighting(gramian))
    t.optimizer.step()


cases = {}
s = trainer("sum")
cases["sum"] = functools.partial(s.step, batch)
for name, w in (("upgrad", UPGradWeighting()), ("mgda", MGDAWeighting())):
    ours = trainer(name)
    cases[f"{name} jacobian path"] = functools.partial(ours.step, batch)
    host = trainer("sum")
    engine = Engine(*host.model.encoders.values(), host.model.trunk, batch_dim=None)
    cases[f"{name} autogram engine"] = functools.partial(autogram_step, host, engine, w)
for c in cases.values():
    c()


def timed(f):
    t0 = time.perf_counter()
    for _ in range(steps):
        f()
    return (time.perf_counter() - t0) / steps


times = timed_rounds({k: functools.partial(timed, f) for k, f in cases.items()}, rounds)
for k in cases:
    r = ratio(times, k, "sum")
    print(f"{k:<26} {r.seconds * 1000:8.2f} ms  {r.median:6.3f} [{r.low:.3f}, {r.high:.3f}]")
