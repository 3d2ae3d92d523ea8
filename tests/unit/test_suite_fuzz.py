"""Property: the suite validator only ever returns a valid suite or raises the project's own error."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmark.api.errors import MimoBenchError
from benchmark.suite.schema import TOP_LEVEL, Suite, load_suite, parse_suite

KEYS = [*TOP_LEVEL, "weights", "lr", "samples", "trunk", "uri", "label", "alpha", "decay", "schedule", "epoch", "xyz"]
NAMES = [
    "sum",
    "static",
    "normalized",
    "uncertainty",
    "gradnorm",
    "alternating",
    "tabular",
    "glyphs",
    "summ",
    "adam",
    "cpu",
    "label",
    "price",
    "sqlite:///fuzz.db",
    "ftp://x",
    "",
]

scalars = st.one_of(
    st.integers(-3, 300), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.sampled_from(NAMES)
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.sampled_from(KEYS), children, max_size=4)
    ),
    max_leaves=12,
)
documents = st.dictionaries(st.sampled_from(KEYS), values, max_size=8)
valid_core = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["fuzz", ""]),
        "problem": st.just({"name": "tabular", "samples": 60}),
        "strategies": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(NAMES)}, optional={"weights": values}), max_size=3
        ),
    },
    optional={"epochs": values, "seeds": values, "model": values, "optimizer": values},
)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def validate(document) -> None:
    try:
        suite = parse_suite(document, Path("fuzz.toml"), tracking_uri="sqlite:///fuzz.db")
    except MimoBenchError as error:
        assert str(error).strip() and "\n" not in str(error)
        return
    assert isinstance(suite, Suite) and suite.strategies and suite.epochs >= 1 and suite.seeds


@FUZZ
@given(documents)
def test_random_documents_validate_or_raise_the_project_error(document):
    validate(document)


@FUZZ
@given(valid_core)
def test_near_valid_documents_validate_or_raise_the_project_error(document):
    validate(document)


@FUZZ
@given(st.text(alphabet=st.sampled_from(list('[]{}="\n.,abcdefgnrst0123456789 -+')), max_size=80))
def test_random_text_validates_or_raises_the_project_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "suite.toml"
    path.write_text(text)
    try:
        suite = load_suite(path, tracking_uri="sqlite:///fuzz.db")
    except MimoBenchError as error:
        assert str(error).startswith(str(path)) and "\n" not in str(error)
    else:
        assert isinstance(suite, Suite)
