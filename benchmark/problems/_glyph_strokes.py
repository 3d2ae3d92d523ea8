"""A character's canonical strokes for `benchmark.problems.glyphs`: alphabet styles and stroke primitives."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

POINTS_PER_STROKE = 32  # every stroke is a polyline of this many points, evenly spaced along it
GLYPH_RADIUS = 0.8  # a character's canonical strokes fit in a circle of this radius


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
