"""Secrets and private APIs: passwords redacted wherever they sit in a text, and no private Optuna attribute used."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmark.tracking.untrusted import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("store postgresql://me:s3cret@db:5432/x failed", "store postgresql://me:***@db:5432/x failed"),
        ("mysql://db/x?user=me&password=s3cret&ssl=1", "mysql://db/x?user=me&password=***&ssl=1"),
        ("postgresql://db/x?PWD=s3cret", "postgresql://db/x?PWD=***"),
        ("two: http://a:b@h1/ and sqlite:///no/password.db", "two: http://a:***@h1/ and sqlite:///no/password.db"),
    ],
)
def test_a_password_is_redacted_wherever_it_sits_in_a_text(text, expected):
    assert redact(text) == expected


def test_the_harness_uses_no_private_optuna_attribute():
    package = Path(__file__).resolve().parents[2] / "benchmark"
    private = re.compile(r"\._(trial_id|study_id|storage|thread_local|pop_waiting_trial_id)\b")
    found = [
        f"{path}: {line.strip()}"
        for path in package.rglob("*.py")
        for line in path.read_text().splitlines()
        if private.search(line)
    ]
    assert found == []


def test_the_readme_warns_wherever_it_serves_the_store_to_every_machine():
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())  # one space each
    recipes = [m.start() for m in re.finditer(r"--host 0\.0\.0\.0", readme)]
    assert recipes, "the scale-out recipe is in the README"
    for start in recipes:
        assert "with no authentication" in readme[start : start + 2500], "a warning follows the recipe"
    assert "--app-name basic-auth" in readme and "reverse proxy" in readme, "and says how to protect it"
