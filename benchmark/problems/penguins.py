"""The Palmer penguins: real tabular data with two classifications and a regression in grams."""

from __future__ import annotations

import importlib.metadata
import io

import pandas as pd
import torch

from benchmark.api.errors import MimoBenchError
from benchmark.api.problem import (
    DEFAULT_FRACTIONS,
    InputSpec,
    Problem,
    ProblemData,
    Split,
    TaskSpec,
    cached_tensors,
    stratified_split,
)
from benchmark.problems._packaged import read_bytes, require

CACHE_VERSION = 1  # bump whenever the parsing changes, so stale caches are not read
PACKAGE, SOURCE = "palmerpenguins", ("data", "penguins.csv")
MEASUREMENTS = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm")
SPECIES = ("Adelie", "Chinstrap", "Gentoo")
SEXES = ("female", "male")
ISLANDS = ("Biscoe", "Dream", "Torgersen")
ROWS, COMPLETE_ROWS = 344, 333  # in palmerpenguins' penguins.csv; 11 rows miss a value (sex, or every measurement)
MASS_SCALE = 1000.0  # grams: the body_mass head predicts kilograms, its output is compared in grams


def read_table(owner: str) -> dict[str, torch.Tensor]:
    """The complete rows of penguins.csv, as tensors (measurements raw, categories as indices)."""
    table = pd.read_csv(io.BytesIO(read_bytes(owner, PACKAGE, *SOURCE)))
    columns = ["species", "island", *MEASUREMENTS, "body_mass_g", "sex"]
    complete = table[columns].dropna()
    for column, allowed in (("species", SPECIES), ("island", ISLANDS), ("sex", SEXES)):
        unknown = sorted(set(complete[column]) - set(allowed))
        if unknown:
            raise MimoBenchError(f"{owner}: {'/'.join(SOURCE)} has unexpected {column} values {unknown}")

    def codes(column: str, allowed: tuple[str, ...]) -> torch.Tensor:
        return torch.tensor([allowed.index(value) for value in complete[column]])

    return {
        "measurements": torch.tensor(complete[list(MEASUREMENTS)].to_numpy(), dtype=torch.float32),
        "island": codes("island", ISLANDS),
        "species": codes("species", SPECIES),
        "sex": codes("sex", SEXES),
        "body_mass": torch.tensor(complete["body_mass_g"].to_numpy(), dtype=torch.float32),
        "rows": torch.tensor([len(table), len(complete)]),
    }


class Penguins(Problem):
    """Palmer penguins: bill and flipper measurements + island -> species, sex and body mass in grams.

    From palmerpenguins' bundled penguins.csv (Horst, Hill & Gorman 2020; 344 penguins), rows with a missing value
    dropped: 333 remain.  Inputs: ``measurements`` (bill length, bill depth, flipper length; standardised with the
    train split's mean and std) and ``island`` (3 categories).  Tasks: ``species`` (3 classes), ``sex`` (2) and
    ``body_mass`` (regression in raw grams, mean about 4,200 g, std about 800 g; the head predicts kilograms,
    ``output_scale`` 1000): its MSE starts near 1.8e7 g^2 and a fitted net's is of order 1e5 g^2, next to two
    cross-entropies below 1, the seeds' loss imbalance on real data.  Splits are stratified by species and sex;
    the test rows are the same for every seed.
    """

    name = "penguins"

    def __init__(self) -> None:
        require(self.owner, PACKAGE)

    def specs(self) -> tuple[tuple[InputSpec, ...], tuple[TaskSpec, ...]]:
        inputs = (
            InputSpec("measurements", "vector", (len(MEASUREMENTS),)),
            InputSpec("island", "category", (), num_categories=len(ISLANDS)),
        )
        tasks = (
            TaskSpec("species", "classification", len(SPECIES), SPECIES),
            TaskSpec("sex", "classification", len(SEXES), SEXES),
            TaskSpec("body_mass", "regression", output_scale=MASS_SCALE),
        )
        return inputs, tasks

    def load(self, seed: int) -> ProblemData:
        data, hit = cached_tensors(
            self.name,
            {"version": CACHE_VERSION, PACKAGE: importlib.metadata.version(PACKAGE)},
            lambda: read_table(self.owner),
        )
        strata = data["species"] * len(SEXES) + data["sex"]
        train, val, test = stratified_split(strata, DEFAULT_FRACTIONS, seed)
        mean, std = data["measurements"][train].mean(dim=0), data["measurements"][train].std(dim=0)
        whole = Split(
            {"measurements": (data["measurements"] - mean) / std, "island": data["island"]},
            {"species": data["species"], "sex": data["sex"], "body_mass": data["body_mass"]},
        )
        rows, complete = data["rows"].tolist()
        inputs, tasks = self.specs()
        info = {"cache": "hit" if hit else "miss", "rows": rows, "complete_rows": complete}
        return ProblemData(inputs, tasks, *(whole.subset(part) for part in (train, val, test)), info=info)
