"""Synthetic two-input tabular data from a known process: a class label and a price-like target."""

from __future__ import annotations

import math

import numpy as np
import torch

from benchmark.api.options import float_option, int_option
from benchmark.api.problem import (
    DEFAULT_FRACTIONS,
    InputSpec,
    Problem,
    ProblemData,
    Split,
    TaskSpec,
    stratified_split,
)

LATENT_DIM = 16  # both feature vectors are read through this many hidden factors


class Tabular(Problem):
    """Two feature vectors -> a class label and a price in the tens of thousands (the seeds' MIMO example).

    Generating process (all projections fixed by ``data_seed``): features_a and features_b are
    standard normal; a unit-variance latent z mixes both through random projections; the label is
    the argmax of a linear map of z plus ``noise``-scaled normal noise; the price is
    ``target_scale * (1 + 0.5 tanh(u.z) + 0.3 sin(2 v.z) + 0.2 (w.z)^2) * exp(noise * eps)``, always
    positive, with mean about 1.2 * target_scale.
    """

    name = "tabular"

    def __init__(
        self,
        *,
        dim_a: int = 100,
        dim_b: int = 50,
        samples: int = 2000,
        classes: int = 10,
        target_scale: float = 10000.0,
        noise: float = 0.1,
        data_seed: int = 0,
    ):
        self.dim_a = int_option(self.owner, "dim_a", dim_a)
        self.dim_b = int_option(self.owner, "dim_b", dim_b)
        self.classes = int_option(self.owner, "classes", classes, minimum=2)
        self.samples = int_option(self.owner, "samples", samples, minimum=3 * self.classes)
        self.target_scale = float_option(self.owner, "target_scale", target_scale, "a number > 0", lambda v: v > 0)
        self.noise = float_option(self.owner, "noise", noise, "a number >= 0", lambda v: v >= 0)
        self.data_seed = int_option(self.owner, "data_seed", data_seed, minimum=0)

    def specs(self) -> tuple[tuple[InputSpec, ...], tuple[TaskSpec, ...]]:
        inputs = (
            InputSpec("features_a", "vector", (self.dim_a,)),
            InputSpec("features_b", "vector", (self.dim_b,)),
        )
        labels = tuple(f"class{index}" for index in range(self.classes))
        return inputs, (
            TaskSpec("label", "classification", self.classes, labels),
            TaskSpec("price", "regression", output_scale=self.target_scale),
        )

    def generate(self) -> dict[str, torch.Tensor]:
        """The whole dataset; a pure function of the options."""
        rng = np.random.default_rng(self.data_seed)
        project_a = rng.normal(size=(self.dim_a, LATENT_DIM))
        project_b = rng.normal(size=(self.dim_b, LATENT_DIM))
        class_directions = rng.normal(size=(LATENT_DIM, self.classes))
        class_directions /= np.linalg.norm(class_directions, axis=0)
        price_directions = rng.normal(size=(LATENT_DIM, 3)) / math.sqrt(LATENT_DIM)
        features_a = rng.normal(size=(self.samples, self.dim_a))
        features_b = rng.normal(size=(self.samples, self.dim_b))
        latent = (features_a @ project_a + features_b @ project_b) / math.sqrt(self.dim_a + self.dim_b)
        logits = latent @ class_directions + self.noise * rng.normal(size=(self.samples, self.classes))
        u, v, w = (latent @ price_directions).T
        shape = 1 + 0.5 * np.tanh(u) + 0.3 * np.sin(2 * v) + 0.2 * w**2
        price = self.target_scale * shape * np.exp(self.noise * rng.normal(size=self.samples))
        return {
            "features_a": torch.from_numpy(features_a).float(),
            "features_b": torch.from_numpy(features_b).float(),
            "label": torch.from_numpy(logits.argmax(axis=1)),
            "price": torch.from_numpy(price).float(),
        }

    def load(self, seed: int) -> ProblemData:
        data = self.generate()
        whole = Split(
            {"features_a": data["features_a"], "features_b": data["features_b"]},
            {"label": data["label"], "price": data["price"]},
        )
        train, val, test = (whole.subset(part) for part in stratified_split(data["label"], DEFAULT_FRACTIONS, seed))
        inputs, tasks = self.specs()
        return ProblemData(inputs, tasks, train, val, test)
