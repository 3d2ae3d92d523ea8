"""Procedurally generated Omniglot-like handwritten characters: alphabets are stroke styles."""

from __future__ import annotations

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
    cached_tensors,
    stratified_split,
)
from benchmark.problems._glyph_drawing import draw_samples
from benchmark.problems._glyph_strokes import alphabet_style, character_strokes

GENERATOR_VERSION = 1  # bump whenever the generated data changes, so stale caches are not read


def _label_names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{index:0{len(str(count - 1))}d}" for index in range(count)]


class Glyphs(Problem):
    """Generated Omniglot-like handwriting: image + pen trajectory -> alphabet, character, slant.

    Inputs: ``image`` (uint8, 1 x image_size x image_size, white strokes on black) and
    ``trajectory`` (trajectory_length x 3 float32: x, y, pen-up flag), the pen's path in the glyph's
    own frame before the slant (x right, y down, within about [-1, 1]; the flag is 1 where a stroke
    ends).  Tasks: ``alphabet``; ``character`` (global index, labels "alphabetA/characterC");
    ``slant`` (regression, degrees, uniform in [-max_slant, max_slant]; positive leans the top to
    the right).  The options alone fix the content (cached on disk); ``load(seed)`` only splits it,
    stratified by character.
    """

    name = "glyphs"

    def __init__(
        self,
        *,
        alphabets: int = 5,
        characters: int = 8,
        samples: int = 30,
        image_size: int = 32,
        trajectory_length: int = 48,
        max_slant: float = 30.0,
        data_seed: int = 0,
    ):
        self.alphabets = int_option(self.owner, "alphabets", alphabets, minimum=2)
        self.characters = int_option(self.owner, "characters", characters)
        self.samples = int_option(self.owner, "samples", samples, minimum=3)
        self.image_size = int_option(self.owner, "image_size", image_size, minimum=16)
        self.trajectory_length = int_option(self.owner, "trajectory_length", trajectory_length, minimum=8)
        self.max_slant = float_option(self.owner, "max_slant", max_slant, "a number in (0, 90]", lambda v: 0 < v <= 90)
        self.data_seed = int_option(self.owner, "data_seed", data_seed, minimum=0)

    def _alphabet_names(self) -> list[str]:
        return _label_names("alphabet", self.alphabets)

    def _character_names(self) -> list[str]:
        return [
            f"{alphabet}/{character}"
            for alphabet in self._alphabet_names()
            for character in _label_names("character", self.characters)
        ]

    def specs(self) -> tuple[tuple[InputSpec, ...], tuple[TaskSpec, ...]]:
        inputs = (
            InputSpec("image", "image", (1, self.image_size, self.image_size)),
            InputSpec("trajectory", "sequence", (self.trajectory_length, 3)),
        )
        tasks = (
            TaskSpec("alphabet", "classification", self.alphabets, tuple(self._alphabet_names())),
            TaskSpec("character", "classification", self.alphabets * self.characters, tuple(self._character_names())),
            TaskSpec("slant", "regression", output_scale=self.max_slant),
        )
        return inputs, tasks

    def generate(self) -> dict[str, torch.Tensor]:
        """The whole dataset, every character drawn ``samples`` times, in alphabet/character order."""
        drawn = []
        for alphabet in range(self.alphabets):
            style = alphabet_style(self.data_seed, alphabet)
            for character in range(self.characters):
                glyph = character_strokes(style, self.data_seed, alphabet, character)
                rng = np.random.default_rng([self.data_seed, 2, alphabet, character])
                drawn.append(
                    draw_samples(glyph, self.samples, rng, self.image_size, self.trajectory_length, self.max_slant)
                )
        images, trajectories, slants = (np.concatenate(parts) for parts in zip(*drawn, strict=True))
        classes = torch.arange(self.alphabets * self.characters).repeat_interleave(self.samples)
        return {
            "image": torch.from_numpy(images).unsqueeze(1),
            "trajectory": torch.from_numpy(trajectories).float(),
            "alphabet": classes // self.characters,
            "character": classes,
            "slant": torch.from_numpy(slants).float(),
        }

    def load(self, seed: int) -> ProblemData:
        key = {"version": GENERATOR_VERSION, **vars(self)}
        data, hit = cached_tensors(self.name, key, self.generate)
        whole = Split(
            inputs={"image": data["image"], "trajectory": data["trajectory"]},
            targets={"alphabet": data["alphabet"], "character": data["character"], "slant": data["slant"]},
        )
        train, val, test = (
            whole.subset(part) for part in stratified_split(whole.targets["character"], DEFAULT_FRACTIONS, seed)
        )
        inputs, tasks = self.specs()
        return ProblemData(inputs, tasks, train, val, test, info={"cache": "hit" if hit else "miss"})
