"""The built-in problems on real generated or real on-disk data: determinism, caching, splits, errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from benchmark.api.errors import MimoBenchError
from benchmark.api.problem import ProblemData
from benchmark.api.registry import PROBLEMS
from benchmark.problems._glyph_drawing import CANVAS_SPAN
from benchmark.problems.glyphs import Glyphs
from benchmark.problems.omniglot import Omniglot
from benchmark.problems.tabular import Tabular

SMALL_GLYPHS = {"alphabets": 3, "characters": 4, "samples": 6, "image_size": 16, "trajectory_length": 24}


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch) -> Path:
    """A cache folder of this test's own, so that hits and misses are this test's doing."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("MIMO_BENCH_CACHE", str(folder))
    return folder


def all_samples(data: ProblemData) -> dict[str, torch.Tensor]:
    """Train, val and test concatenated back together, per tensor name."""
    splits = (data.train, data.val, data.test)
    names = {**data.train.inputs, **data.train.targets}
    return {name: torch.cat([{**s.inputs, **s.targets}[name] for s in splits]) for name in names}


@pytest.mark.parametrize(("name", "cls"), [("glyphs", Glyphs), ("omniglot", Omniglot), ("tabular", Tabular)])
def test_builtin_problems_are_discovered_by_module_name(name, cls):
    assert PROBLEMS.get(name) is cls


# -- glyphs ------------------------------------------------------------------------------


def test_glyphs_same_options_give_identical_tensors_and_another_data_seed_does_not():
    first, second = Glyphs(**SMALL_GLYPHS).generate(), Glyphs(**SMALL_GLYPHS).generate()
    other = Glyphs(**SMALL_GLYPHS, data_seed=1).generate()
    for name in ("image", "trajectory", "slant"):
        assert torch.equal(first[name], second[name]), name
        assert not torch.equal(first[name], other[name]), name


def test_glyphs_tensors_have_the_declared_shapes_and_balanced_classes():
    problem = Glyphs(**SMALL_GLYPHS)
    data = problem.generate()
    inputs, tasks = problem.specs()
    for spec in inputs:
        assert tuple(data[spec.name].shape[1:]) == spec.shape
    assert data["image"].dtype == torch.uint8 and data["trajectory"].dtype == torch.float32
    assert data["character"].bincount().tolist() == [6] * 12
    assert data["alphabet"].bincount().tolist() == [24] * 3
    assert torch.equal(data["alphabet"], data["character"] // 4)
    alphabet, character, slant = tasks
    assert alphabet.labels == ("alphabet0", "alphabet1", "alphabet2")
    assert character.num_classes == 12 and character.labels[5] == "alphabet1/character1"
    assert slant.kind == "regression" and data["slant"].abs().max() <= 30
    assert data["slant"].var() > 100, "the slant's MSE must dwarf the cross-entropies"


def test_glyphs_cache_is_written_once_then_hit_quickly(fresh_cache):
    problem = Glyphs(**SMALL_GLYPHS)
    problem.specs()
    assert not fresh_cache.exists(), "specs() must not build data"
    first = problem.load(seed=0)
    assert first.info["cache"] == "miss"
    assert [p.name.startswith("glyphs-") and p.suffix == ".pt" for p in fresh_cache.iterdir()] == [True]
    started = time.perf_counter()
    second = Glyphs(**SMALL_GLYPHS).load(seed=0)
    assert time.perf_counter() - started < 0.5
    assert second.info["cache"] == "hit"
    assert torch.equal(first.train.inputs["image"], second.train.inputs["image"])
    assert Glyphs(**{**SMALL_GLYPHS, "max_slant": 10}).load(seed=0).info["cache"] == "miss"


def test_glyphs_split_is_stratified_deterministic_per_seed_and_partitions_the_data():
    problem = Glyphs(**SMALL_GLYPHS)
    first, again, other = problem.load(seed=0), problem.load(seed=0), problem.load(seed=1)
    assert torch.equal(first.train.targets["slant"], again.train.targets["slant"])
    assert not torch.equal(first.train.targets["slant"], other.train.targets["slant"])
    # slants are continuous random draws, so they identify samples
    whole = problem.generate()
    pooled = all_samples(first)
    assert torch.equal(pooled["slant"].sort().values, whole["slant"].sort().values)
    assert pooled["slant"].unique().numel() == len(whole["slant"])
    for split in (first.train, first.val, first.test):
        assert split.targets["character"].unique().numel() == 12
    assert (len(first.train), len(first.val), len(first.test)) == (48, 12, 12)


def ink_under(points: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Per sample, the share of (x, y) trajectory points that fall on ink in its image."""
    size = images.shape[-1]
    pixels = ((points * CANVAS_SPAN + 0.5) * size).floor().long().clamp(0, size - 1)
    rows = torch.arange(len(images))[:, None]
    return (images[rows, 0, pixels[..., 1], pixels[..., 0]] > 64).float().mean(dim=1)


def rotate(points: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Turn (x, y-down) points clockwise on screen by ``degrees`` (one angle per sample)."""
    radians = torch.deg2rad(degrees)[:, None]
    x, y = points[..., 0], points[..., 1]
    return torch.stack([x * radians.cos() - y * radians.sin(), x * radians.sin() + y * radians.cos()], dim=-1)


def test_glyphs_trajectory_is_the_pen_path_before_the_slant():
    """The image is the trajectory turned by the slant; the trajectory itself is not turned."""
    data = Glyphs(**{**SMALL_GLYPHS, "image_size": 32}).generate()
    points, slant, images = data["trajectory"][..., :2], data["slant"], data["image"]
    slanted = slant.abs() > 15
    on_ink = ink_under(rotate(points, slant), images)
    unturned = ink_under(points[slanted], images[slanted])
    turned_wrong_way = ink_under(rotate(points, -slant)[slanted], images[slanted])
    assert on_ink.min() > 0.95, "every trajectory, turned by its slant, lies on the image's ink"
    assert bool((unturned < 0.9).all()) and bool((turned_wrong_way < 0.9).all()), "an unturned one does not"
    pen_up = data["trajectory"][..., 2]
    assert set(pen_up.unique().tolist()) == {0.0, 1.0} and bool((pen_up[:, -1] == 1).all())


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("image_size", 8),
        ("max_slant", 0),
        ("max_slant", 95.0),
        ("alphabets", True),
        ("samples", "30"),
        ("data_seed", -1),
    ],
)
def test_glyphs_bad_option_names_it(option, value):
    with pytest.raises(MimoBenchError, match=f"problem 'glyphs': {option} must be .*got {value!r}"):
        Glyphs(**{option: value})


# -- omniglot ----------------------------------------------------------------------------

ALPHABETS = {"Greek": ["alpha", "beta"], "Latin": ["a", "b", "c"]}
DRAWINGS = 4


def write_omniglot(folder: Path) -> None:
    """A tiny Omniglot-like set: 1-bit PNGs, black strokes on white, one line per drawing."""
    for a, (alphabet, characters) in enumerate(ALPHABETS.items()):
        for c, character in enumerate(characters):
            (folder / alphabet / character).mkdir(parents=True)
            for drawing in range(DRAWINGS):
                image = Image.new("1", (30, 30), 1)
                ImageDraw.Draw(image).line((3 + a, 3 + c * 8, 26 - drawing, 26), fill=0, width=3)
                image.save(folder / alphabet / character / f"{c:02d}_{drawing:02d}.png")


@pytest.fixture(params=["torchvision", "plain"])
def omniglot_root(request, tmp_path) -> Path:
    root = tmp_path / "omniglot"
    write_omniglot(root / "omniglot-py" / "images_background" if request.param == "torchvision" else root)
    return root


def test_omniglot_two_output_reads_either_layout(omniglot_root, fresh_cache):
    problem = Omniglot(root=str(omniglot_root), image_size=16)
    data = problem.load(seed=0)
    assert data.info["cache"] == "miss"
    alphabet, character = data.tasks
    assert alphabet.labels == ("Greek", "Latin")
    assert character.labels == ("Greek/alpha", "Greek/beta", "Latin/a", "Latin/b", "Latin/c")
    assert [spec.name for spec in data.inputs] == ["image"]
    pooled = all_samples(data)
    assert pooled["image"].shape == (5 * DRAWINGS, 1, 16, 16) and pooled["image"].dtype == torch.uint8
    assert pooled["image"].float().mean() < 128, "inverted: strokes white on a black background"
    assert pooled["character"].bincount().tolist() == [DRAWINGS] * 5
    assert torch.equal(pooled["alphabet"], (pooled["character"] >= 2).long())
    assert Omniglot(root=str(omniglot_root), image_size=16).load(seed=0).info["cache"] == "hit"


def test_omniglot_two_input_feeds_the_alphabet_and_predicts_the_character(omniglot_root):
    data = Omniglot(root=str(omniglot_root), mode="two_input", image_size=16).load(seed=3)
    image, alphabet = data.inputs
    assert (alphabet.name, alphabet.kind, alphabet.num_categories) == ("alphabet", "category", 2)
    assert [task.name for task in data.tasks] == ["character"]
    for split in (data.train, data.val, data.test):
        assert split.inputs["alphabet"].dtype == torch.int64
        assert torch.equal(split.inputs["alphabet"], (split.targets["character"] >= 2).long())


def test_omniglot_max_characters_keeps_every_alphabet(omniglot_root):
    problem = Omniglot(root=str(omniglot_root), max_characters=2, image_size=16)
    assert [task.labels for task in problem.tasks] == [("Greek", "Latin"), ("Greek/alpha", "Latin/a")]


def test_omniglot_missing_root_says_where_to_put_the_data(tmp_path):
    with pytest.raises(MimoBenchError) as error:
        Omniglot(root=str(tmp_path / "nowhere")).specs()
    message = str(error.value)
    for fragment in ("no Omniglot data", "nowhere", "omniglot-py/images_background", "download = true"):
        assert fragment in message


@pytest.mark.parametrize(
    ("build", "names"),
    [
        (lambda root: root.mkdir(), "holds no alphabet folders"),
        (lambda root: (root / "Greek").mkdir(parents=True), "Greek holds no character folders"),
        (lambda root: (root / "Greek" / "alpha").mkdir(parents=True), "alpha holds no .png images"),
        (lambda root: (root / "omniglot-py").mkdir(parents=True), "has no images_background folder"),
    ],
)
def test_omniglot_malformed_folder_is_named_with_the_expected_layout(tmp_path, build, names):
    root = tmp_path / "data"
    build(root)
    with pytest.raises(MimoBenchError, match=names) as error:
        Omniglot(root=str(root)).specs()
    assert "<alphabet>/<character>/*.png" in str(error.value)


def test_omniglot_corrupt_image_is_named(tmp_path, fresh_cache):
    write_omniglot(tmp_path)
    broken = tmp_path / "Latin" / "b" / "01_02.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    with pytest.raises(MimoBenchError, match=f"cannot read image {broken}"):
        Omniglot(root=str(tmp_path), image_size=16).load(seed=0)
    assert not list(fresh_cache.glob("*.pt")), "nothing is cached from a failed decode"


@pytest.mark.parametrize(
    ("option", "value"), [("mode", "three_output"), ("image_size", 4), ("max_characters", 0), ("download", "yes")]
)
def test_omniglot_bad_option_names_it(option, value):
    with pytest.raises(MimoBenchError, match=f"problem 'omniglot': {option} must be"):
        Omniglot(**{option: value})


# -- tabular -----------------------------------------------------------------------------


def test_tabular_shapes_and_determinism():
    problem = Tabular(dim_a=12, dim_b=5, samples=300, classes=4)
    data = problem.load(seed=0)
    features_a, features_b = data.inputs
    assert (features_a.shape, features_b.shape) == ((12,), (5,))
    assert data.train.inputs["features_a"].shape[1:] == (12,) and data.val.inputs["features_b"].shape[1:] == (5,)
    assert data.train.targets["label"].dtype == torch.int64 and data.train.targets["price"].dtype == torch.float32
    assert len(data.train) + len(data.val) + len(data.test) == 300
    for split in (data.train, data.val, data.test):
        assert split.targets["label"].unique().numel() == 4
    again = Tabular(dim_a=12, dim_b=5, samples=300, classes=4).generate()
    other = Tabular(dim_a=12, dim_b=5, samples=300, classes=4, data_seed=1).generate()
    first = problem.generate()
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not torch.equal(first["features_a"], other["features_a"])


@pytest.mark.parametrize("scale", [10000.0, 3.0])
def test_tabular_price_is_on_the_target_scale(scale):
    price = Tabular(samples=500, target_scale=scale).generate()["price"]
    assert 0.8 * scale < price.mean() < 1.6 * scale
    assert 0.2 * scale < price.std() < scale
    assert bool((price > 0).all())


@pytest.mark.parametrize(("option", "value"), [("classes", 1), ("samples", 10), ("target_scale", 0), ("noise", -0.1)])
def test_tabular_bad_option_names_it(option, value):
    with pytest.raises(MimoBenchError, match=f"problem 'tabular': {option} must be"):
        Tabular(**{option: value})


# -- every built-in problem: one test set for every seed -----------------------------------------------


def sample_ids(split) -> list[bytes]:
    """Each sample of a split as the bytes of all its tensors (every built-in problem's samples differ)."""
    tensors = [*split.inputs.values(), *split.targets.values()]
    return [b"".join(t[i].numpy().tobytes() for t in tensors) for i in range(len(split))]


def check_fixed_test_split(problem) -> None:
    loads = [problem.load(seed) for seed in (0, 1, 2)]
    test = [sample_ids(data.test) for data in loads]
    assert test[0] == test[1] == test[2]  # the same samples in the same order: no seed selects on them
    train = [set(sample_ids(data.train)) for data in loads]
    val = [set(sample_ids(data.val)) for data in loads]
    assert train[0] != train[1] != train[2] and val[0] != val[1]  # the seed draws train/val from the rest
    for seed in range(3):
        assert not (train[seed] & val[seed]) and not ((train[seed] | val[seed]) & set(test[seed]))
        assert len(train[seed]) + len(val[seed]) + len(set(test[seed])) == sum(
            len(s) for s in (loads[seed].train, loads[seed].val, loads[seed].test)
        )


def test_glyphs_and_tabular_hold_the_test_set_fixed_across_seeds():
    check_fixed_test_split(Glyphs(**SMALL_GLYPHS))
    check_fixed_test_split(Tabular(dim_a=6, dim_b=3, samples=120, classes=3))


def test_omniglot_holds_the_test_set_fixed_across_seeds(tmp_path, fresh_cache):
    write_omniglot(tmp_path / "omniglot")
    problem = Omniglot(root=str(tmp_path / "omniglot"), image_size=16)
    loads = [problem.load(seed) for seed in (0, 1)]
    assert sample_ids(loads[0].test) == sample_ids(loads[1].test)
    assert set(sample_ids(loads[0].train)) != set(sample_ids(loads[1].train))
    assert not set(sample_ids(loads[0].test)) & set(sample_ids(loads[1].train) + sample_ids(loads[1].val))
