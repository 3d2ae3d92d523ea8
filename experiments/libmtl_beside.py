"""LibMTL's gradient methods timed beside mimo-bench's on the same net and batch (a measurement script only).

LibMTL is not a dependency and none of its code enters mimo-bench: this script imports it from a folder
given by LIBMTL_PATH (e.g. the PyPI wheel unpacked: ``pip download LibMTL --no-deps -d /tmp/dl &&
python -m zipfile -e /tmp/dl/LibMTL-1.1.5-py3-none-any.whl /tmp/libmtl``), mixes each LibMTL weighting
into a wrapper around mimo-bench's own net (LibMTL's way: multiple inheritance, ``rep_grad`` heads reading
detached copies of the representation) and times one optimizer step per case, interleaved round by round
with mimo-bench's ``sum`` (the baseline), the floor of T backward passes and mimo-bench's versions of the
same methods.  Usage (one thread, as runs train):

    LIBMTL_PATH=/tmp/libmtl python experiments/libmtl_beside.py experiments/perf_gradient_quick.toml --rounds 8
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
import time
import types
from pathlib import Path

import torch

from benchmark.api.registry import PROBLEMS, STRATEGIES
from benchmark.perf.gradient import FLOOR, TaskBackwardFloor
from benchmark.perf.timing import _build, ratio, timed_rounds
from benchmark.run.runner import model_config
from benchmark.suite.schema import load_suite
from benchmark.train.metrics import task_loss
from benchmark.train.trainer import TrainConfig, Trainer

LIBMTL_CASES = {  # (LibMTL class, rep_grad, its backward keywords); LibMTL 1.1.5 refuses the other combinations
    "EW": ("EW", False, {}),
    "PCGrad": ("PCGrad", False, {}),
    "MGDA": ("MGDA", False, {"mgda_gn": "none"}),
    "CAGrad": ("CAGrad", False, {"calpha": 0.4, "rescale": 1}),
    "IMTL": ("IMTL", False, {}),
    "GradVac": ("GradVac", False, {"beta": 0.5}),
    "MGDA rep_grad": ("MGDA", True, {"mgda_gn": "none"}),
    "IMTL rep_grad": ("IMTL", True, {}),
    "GradDrop rep_grad": ("GradDrop", True, {"leak": 0.0}),
}
OURS = {
    "pcgrad (shared)": ("pcgrad", "shared"),
    "mgda (shared)": ("mgda", "shared"),
    "cagrad (shared)": ("cagrad", "shared"),
    "imtl_g (shared)": ("imtl_g", "shared"),
    "gradvac (shared)": ("gradvac", "shared"),
    "mgda (representation)": ("mgda", "representation"),
    "imtl_g (representation)": ("imtl_g", "representation"),
    "graddrop (representation)": ("graddrop", "representation"),
}


def import_weightings(root: Path):
    """LibMTL's ``weighting`` subpackage alone: its package ``__init__`` imports model code that needs an old
    torchvision (``torchvision.models.utils``), which the weightings do not use."""
    package = types.ModuleType("LibMTL")
    package.__path__ = [str(root / "LibMTL")]
    sys.modules["LibMTL"] = package
    return importlib.import_module("LibMTL.weighting")


def libmtl_model(weighting: type, trainer: Trainer, rep_grad: bool) -> torch.nn.Module:
    """LibMTL's shape: the weighting class mixed into a model that exposes the shared parameters."""
    net, tasks = trainer.model, trainer.tasks

    class Combined(weighting):
        def __init__(self):
            super().__init__()
            self.net, self.task_name, self.task_num = net, [t.name for t in tasks], len(tasks)
            self.device, self.rep_grad = trainer.device, rep_grad
            self.init_param()

        def get_share_params(self):
            return net.shared_parameters()

        def _grad2vec(self):  # LibMTL's, with reshape for mimo-bench's channels-last conv weights (its .view fails)
            return torch.cat(
                [p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel()) for p in net.shared_parameters()]
            )

        def zero_grad_share_params(self):
            for param in net.shared_parameters():
                if param.grad is not None:
                    param.grad.zero_()

        def forward(self, inputs):
            fused = torch.cat([encoder(inputs[name]) for name, encoder in net.encoders.items()], dim=1)
            rep = net.trunk(fused)
            if not self.rep_grad:
                return {name: head(rep) for name, head in net.heads.items()}
            self.rep = rep
            self.rep_tasks = {name: rep.detach().clone().requires_grad_() for name in self.task_name}
            return {name: head(self.rep_tasks[name]) for name, head in net.heads.items()}

    return Combined()


def libmtl_step(model, optimizer, tasks, batch, keywords) -> None:
    optimizer.zero_grad(set_to_none=False)  # LibMTL writes into existing .grad tensors
    outputs = model(batch.inputs)
    losses = torch.stack([task_loss(t, outputs[t.name], batch.targets[t.name]) for t in tasks])
    model.backward(losses, **keywords)
    optimizer.step()


def timed(step, steps: int) -> float:
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    libmtl = import_weightings(Path(os.environ.get("LIBMTL_PATH", "/tmp/libmtl")))

    torch.set_num_threads(1)
    suite = load_suite(args.suite)
    data = PROBLEMS.get(suite.problem)(**suite.problem_options).load(suite.seeds[0])
    batch = data.train.subset(torch.arange(suite.batch_size))
    config = TrainConfig(1, suite.batch_size, suite.optimizer["lr"], seed=suite.seeds[0])

    def trainer(cls: type, params: dict) -> Trainer:
        return Trainer(data, model_config(suite), functools.partial(_build, cls, params), config)

    cases = {"mimo-bench sum": (t := trainer(STRATEGIES.get("sum"), {}), functools.partial(t.step, batch))[1]}
    floor = trainer(TaskBackwardFloor, {})
    cases[FLOOR] = functools.partial(floor.step, batch)
    for label, (name, on) in OURS.items():
        ours = trainer(STRATEGIES.get(name), {"on": on})
        cases[f"mimo-bench {label}"] = functools.partial(ours.step, batch)
    for label, (class_name, rep_grad, keywords) in LIBMTL_CASES.items():
        host = trainer(STRATEGIES.get("sum"), {})
        model = libmtl_model(getattr(libmtl, class_name), host, rep_grad)
        optimizer = torch.optim.Adam(model.parameters(), lr=suite.optimizer["lr"])
        cases[f"LibMTL {label}"] = functools.partial(libmtl_step, model, optimizer, data.tasks, batch, keywords)
    for step in cases.values():
        step()  # warm-up
    times = timed_rounds(
        {label: functools.partial(timed, step, args.steps) for label, step in cases.items()}, args.rounds
    )
    width = max(map(len, cases)) + 2
    print(
        f"{suite.name}: one step per case, vs mimo-bench sum ({args.rounds} rounds, {args.steps} steps a timing, 1 thread)"
    )
    print(f"{'case':<{width}} {'ms/step':>8} {'vs sum':>7} {'spread':>16}")
    for label in cases:
        r = ratio(times, label, "mimo-bench sum")
        print(f"{label:<{width}} {r.seconds * 1000:>8.2f} {r.median:>7.3f} {f'[{r.low:.3f}, {r.high:.3f}]':>16}")


if __name__ == "__main__":
    main()
