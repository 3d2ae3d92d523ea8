"""The architecture's import contracts (`[tool.importlinter]` in pyproject.toml) hold: run by the test command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept():
    installed = Path(sys.executable).parent / "lint-imports"
    command = str(installed) if installed.exists() else shutil.which("lint-imports")
    assert command, "lint-imports is missing: pip install -e '.[test]'"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([command], cwd=ROOT, capture_output=True, text=True, env=environment, timeout=300)
    assert done.returncode == 0, f"an import contract is broken:\n{done.stdout}\n{done.stderr}"
