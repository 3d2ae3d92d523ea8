"""Drawers' renderings of a character for `benchmark.problems.glyphs`: the wobbled image and the pen trajectory."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from benchmark.problems._glyph_strokes import POINTS_PER_STROKE

JITTER_ANCHORS = 4  # a drawer's wobble along one stroke: offsets at this many anchors, blended
JITTER = 0.05  # standard deviation of those offsets
SUPERSAMPLING = 3  # strokes are drawn at this multiple of image_size, then box-filtered down
REVERSED_STROKES = 0.25  # chance that a drawer draws a stroke from its other end
CANVAS_SPAN = 0.45  # coordinate +-1 lands at 5% / 95% of the image's width


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
