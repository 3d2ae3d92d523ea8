"""Procedurally generated Omniglot-like handwritten characters: alphabets are stroke styles."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

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

GENERATOR_VERSION = 1  # bump whenever the generated data changes, so stale caches are not read
POINTS_PER_STROKE = 32  # every stroke is a polyline of this many points, evenly spaced along it
JITTER_ANCHORS = 4  # a drawer's wobble along one stroke: offsets at this many anchors, blended
GLYPH_RADIUS = 0.8  # a character's canonical strokes fit in a circle of this radius
JITTER = 0.05  # standard deviation of those offsets
SUPERSAMPLING = 3  # strokes are drawn at this multiple of image_size, then box-filtered down
REVERSED_STROKES = 0.25  # chance that a drawer draws a stroke from its other end
CANVAS_SPAN = 0.45  # coordinate +-1 lands at 5% / 95% of the image's width


@dataclass(frozen=True)
class AlphabetStyle:
    """How every character of one alphabet is drawn."""

    primitive_weights: np.ndarray  # probability of each stroke primitive (two or three are used)
    strokes: int  # typical number of strokes per character
    angle_step: float  # stroke directions are multiples of this (radians); 0: any direction
    curl: float  # scales arc sweeps, wave and zig-zag amplitudes, loop and hook sizes
    stroke_size: tuple[float, float]  # range of a stroke's half-length
    connect: float  # chance that a stroke starts on an earlier stroke of the character
    aspect: float  # horizontal stretch of the whole character
    headline: bool  # every character hangs from a horizontal bar across its top


def _even_spacing(points: np.ndarray) -> np.ndarray:
    """The polyline through ``points`` resampled to POINTS_PER_STROKE points evenly spaced along it."""
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    position = np.concatenate([[0.0], np.cumsum(lengths)])
    wanted = np.linspace(0.0, position[-1], POINTS_PER_STROKE)
    return np.stack([np.interp(wanted, position, points[:, 0]), np.interp(wanted, position, points[:, 1])], axis=1)


def _line(rng: np.random.Generator, curl: float) -> np.ndarray:
    return np.array([[-1.0, 0.0], [1.0, 0.0]])


def _arc(rng: np.random.Generator, curl: float) -> np.ndarray:
    sweep = rng.uniform(0.6, 1.6) * math.pi * curl
    angles = np.linspace(-sweep / 2, sweep / 2, 48)
    return np.stack([np.sin(angles), -np.cos(angles)], axis=1) * (2.0 / max(sweep, 2.0))


def _zigzag(rng: np.random.Generator, curl: float) -> np.ndarray:
    corners = int(rng.integers(2, 5))
    amplitude = rng.uniform(0.3, 0.6) * curl
    signs = np.where(np.arange(corners + 1) % 2 == 0, -1.0, 1.0)
    return np.stack([np.linspace(-1.0, 1.0, corners + 1), amplitude * signs], axis=1)


def _wave(rng: np.random.Generator, curl: float) -> np.ndarray:
    half_periods = int(rng.integers(2, 5))
    x = np.linspace(-1.0, 1.0, 64)
    return np.stack([x, rng.uniform(0.15, 0.35) * curl * np.sin(math.pi * half_periods * (x + 1) / 2)], axis=1)


def _loop(rng: np.random.Generator, curl: float) -> np.ndarray:
    radius = rng.uniform(0.4, 0.6) * max(curl, 0.85)  # above 1/pi, so the pen crosses its own path
    t = np.linspace(0.0, 1.0, 64)
    return np.stack([2 * t - 1 + radius * np.sin(2 * math.pi * t), radius * np.cos(2 * math.pi * t)], axis=1)


def _spiral(rng: np.random.Generator, curl: float) -> np.ndarray:
    angles = np.linspace(0.0, rng.uniform(0.9, 1.4) * 2 * math.pi * min(curl, 1.0), 64)
    radius = np.linspace(1.0, 0.35, 64)
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def _hook(rng: np.random.Generator, curl: float) -> np.ndarray:
    radius = rng.uniform(0.25, 0.45) * curl
    angles = np.linspace(0.0, rng.uniform(0.8, 1.3) * math.pi, 24)
    curve = np.stack([0.4 + radius * np.sin(angles), radius * (np.cos(angles) - 1)], axis=1)
    return np.concatenate([[[-1.0, 0.0]], curve])


PRIMITIVES: tuple[Callable[[np.random.Generator, float], np.ndarray], ...] = (
    _line,
    _arc,
    _zigzag,
    _wave,
    _loop,
    _spiral,
    _hook,
)


def alphabet_style(data_seed: int, alphabet: int) -> AlphabetStyle:
    """The stroke style of one alphabet, fixed by the data seed and the alphabet's index."""
    rng = np.random.default_rng([data_seed, 0, alphabet])
    favoured = rng.choice(len(PRIMITIVES), size=rng.integers(2, 4), replace=False)
    weights = np.zeros(len(PRIMITIVES))
    weights[favoured] = rng.dirichlet(np.ones(len(favoured)))
    low = rng.uniform(0.35, 0.6)
    return AlphabetStyle(
        primitive_weights=weights,
        strokes=int(rng.integers(2, 5)),
        angle_step=float(rng.choice([0.0, math.pi / 4, math.pi / 2], p=[0.5, 0.3, 0.2])),
        curl=rng.uniform(0.6, 1.3),
        stroke_size=(low, low + rng.uniform(0.1, 0.4)),
        connect=rng.uniform(0.0, 0.9),
        aspect=math.exp(rng.uniform(-0.35, 0.35)),
        headline=bool(rng.random() < 0.2),
    )


def _rotation(angle: float) -> np.ndarray:
    return np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])


def character_strokes(style: AlphabetStyle, data_seed: int, alphabet: int, character: int) -> np.ndarray:
    """One character's canonical strokes, (strokes, POINTS_PER_STROKE, 2), centred within GLYPH_RADIUS.

    Coordinates are image-like: x to the right, y downwards.
    """
    rng = np.random.default_rng([data_seed, 1, alphabet, character])
    count = int(np.clip(style.strokes + rng.integers(-1, 2), 2, 3 if style.headline else 4))
    strokes: list[np.ndarray] = []
    for _ in range(count):
        primitive = PRIMITIVES[rng.choice(len(PRIMITIVES), p=style.primitive_weights)]
        stroke = _even_spacing(primitive(rng, style.curl))
        stroke[:, 1] *= rng.choice([-1.0, 1.0])  # mirror image
        if style.angle_step:
            angle = style.angle_step * rng.integers(0, round(2 * math.pi / style.angle_step)) + rng.normal(0, 0.05)
        else:
            angle = rng.uniform(0, 2 * math.pi)
        stroke = stroke @ _rotation(angle).T * rng.uniform(*style.stroke_size)
        if strokes and rng.random() < style.connect:
            earlier = strokes[rng.integers(len(strokes))]
            stroke += earlier[rng.choice([0, POINTS_PER_STROKE // 2, POINTS_PER_STROKE - 1])] - stroke[0]
        else:
            stroke += rng.uniform(-0.6, 0.6, size=2)
        strokes.append(stroke)
    glyph = np.stack(strokes) * [style.aspect, 1.0]
    if style.headline:
        (left, top), (right, _) = glyph.reshape(-1, 2).min(axis=0), glyph.reshape(-1, 2).max(axis=0)
        bar = np.array([[left - 0.1, top - 0.15], [right + 0.1, top - 0.15]])
        glyph = np.concatenate([_even_spacing(bar)[None], glyph])
    flat = glyph.reshape(-1, 2)
    glyph = glyph - (flat.min(axis=0) + flat.max(axis=0)) / 2
    return glyph * (GLYPH_RADIUS / np.linalg.norm(glyph, axis=-1).max())


def _blend_weights(count: int) -> np.ndarray:
    """(POINTS_PER_STROKE, count) weights that blend ``count`` anchor offsets linearly along a stroke."""
    position = np.linspace(0.0, count - 1, POINTS_PER_STROKE)
    return np.maximum(0.0, 1.0 - np.abs(position[:, None] - np.arange(count)[None, :]))


def _trajectory_resampler(stroke_lengths: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """A (length, strokes * POINTS_PER_STROKE) interpolation matrix and the (length,) pen-up flags.

    Each stroke gets at least two of the ``length`` points and the rest in proportion to its
    length; the flag is 1 on the last point of each stroke, where the pen lifts.
    """
    strokes = len(stroke_lengths)
    ideal = (length - 2 * strokes) * stroke_lengths / stroke_lengths.sum()
    shares = 2 + np.floor(ideal).astype(int)
    largest_remainders = np.argsort(np.floor(ideal) - ideal, kind="stable")
    shares[largest_remainders[: length - shares.sum()]] += 1
    matrix = np.zeros((length, strokes * POINTS_PER_STROKE))
    pen_up = np.zeros(length)
    row = 0
    for stroke, share in enumerate(shares):
        position = np.linspace(0.0, POINTS_PER_STROKE - 1, share)
        below = np.floor(position).astype(int).clip(max=POINTS_PER_STROKE - 2)
        fraction = position - below
        rows = np.arange(row, row + share)
        matrix[rows, stroke * POINTS_PER_STROKE + below] = 1 - fraction
        matrix[rows, stroke * POINTS_PER_STROKE + below + 1] = fraction
        row += share
        pen_up[row - 1] = 1.0
    return matrix, pen_up


def _pen_trajectory(strokes: np.ndarray, length: int) -> np.ndarray:
    """(length, 3) rows of x, y, pen_up: the strokes drawn one after another, resampled to ``length`` points."""
    matrix, pen_up = _trajectory_resampler(np.linalg.norm(np.diff(strokes, axis=1), axis=-1).sum(axis=1), length)
    return np.concatenate([matrix @ strokes.reshape(-1, 2), pen_up[:, None]], axis=1)


def _render(strokes: np.ndarray, width: float, size: int) -> np.ndarray:
    """White strokes (255) on black (0), ``size`` x ``size`` uint8; coordinates +-1 span 90% of the image."""
    canvas = size * SUPERSAMPLING
    pixels = (strokes * CANVAS_SPAN + 0.5) * canvas
    image = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(image)
    radius = width / 2
    for stroke in pixels:
        draw.line(stroke.ravel().tolist(), fill=255, width=round(width), joint="curve")
        for x, y in (stroke[0], stroke[-1]):  # round pen tips
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(image.reduce(SUPERSAMPLING))


def draw_samples(
    glyph: np.ndarray, count: int, rng: np.random.Generator, image_size: int, trajectory_length: int, max_slant: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` drawers' renderings of one character: (images, trajectories, slants in degrees).

    Each drawer wobbles every stroke, picks a pen width, a small affine (scale, shear, shift), a
    stroke order and directions: that is the trajectory.  The image is the same pen path rotated
    clockwise by the slant.
    """
    strokes = len(glyph)
    offsets = rng.normal(0.0, JITTER, size=(count, strokes, JITTER_ANCHORS, 2))
    pen = glyph + np.einsum("pa,nsad->nspd", _blend_weights(JITTER_ANCHORS), offsets)
    affine = np.zeros((count, 2, 2))
    affine[:, 0, 0], affine[:, 1, 1] = rng.uniform(0.85, 1.1, size=(2, count))
    affine[:, 0, 1] = rng.uniform(-0.15, 0.15, size=count)
    pen = np.einsum("nij,nspj->nspi", affine, pen) + rng.uniform(-0.08, 0.08, size=(count, 1, 1, 2))
    slants = rng.uniform(-max_slant, max_slant, size=count)
    radians = np.radians(slants)
    cos, sin = np.cos(radians)[:, None, None], np.sin(radians)[:, None, None]
    # y points down, so this rotation turns the glyph clockwise on screen: its top leans right
    slanted = np.stack([cos * pen[..., 0] - sin * pen[..., 1], sin * pen[..., 0] + cos * pen[..., 1]], axis=-1)
    widths = rng.uniform(0.045, 0.08, size=count) * image_size * SUPERSAMPLING
    images = np.stack([_render(path, width, image_size) for path, width in zip(slanted, widths, strict=True)])
    orders = np.argsort(rng.random((count, strokes)), axis=1)  # each drawer's own stroke order
    backwards = rng.random((count, strokes)) < REVERSED_STROKES
    trajectories = np.stack(
        [
            _pen_trajectory(np.where(backwards[i, :, None, None], path[:, ::-1], path)[orders[i]], trajectory_length)
            for i, path in enumerate(pen)
        ]
    )
    return images, trajectories, slants


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
