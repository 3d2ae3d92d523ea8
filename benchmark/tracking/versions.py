"""What a run records to be reproduced: the code version of its checkout and the libraries' versions."""

from __future__ import annotations

import contextlib
import functools
import platform
import subprocess
import sys
from pathlib import Path

import benchmark

CHECKOUT = Path(__file__).resolve().parents[2]  # the folder holding the benchmark package (benchmark/tracking/..)


def _git(root: Path, *arguments: str) -> str:
    done = subprocess.run(["git", *arguments], cwd=root, capture_output=True, text=True, timeout=5)
    return done.stdout.strip() if done.returncode == 0 else ""


def _without_credentials(url: str) -> str:
    """A remote URL without any user name or password in it."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def source_version(root: Path) -> dict[str, str]:
    """Which code ran: ``root``'s path, and where ``root`` is the top of a git checkout, its commit, whether
    its working tree differs from that commit (tracked or untracked files), and its origin remote (without
    credentials).  'unknown' outside a checkout of ``root``: an enclosing repository's commit is not this code's."""
    version = {"code_path": str(root.resolve()), "mlflow.source.git.commit": "unknown", "code_dirty": "unknown"}
    try:
        if Path(_git(root, "rev-parse", "--show-toplevel") or "/nonexistent").resolve() != root.resolve():
            return version
        version["mlflow.source.git.commit"] = _git(root, "rev-parse", "HEAD") or "unknown"
        version["code_dirty"] = "true" if _git(root, "status", "--porcelain") else "false"
        remote = _git(root, "remote", "get-url", "origin")
        version["mlflow.source.git.repoURL"] = _without_credentials(remote) if remote else str(root.resolve())
    except (OSError, subprocess.SubprocessError):
        pass
    return version


@functools.cache
def checkout_version() -> dict[str, str]:
    """`source_version` of this checkout, read once per process (when it imported the code it runs)."""
    return source_version(CHECKOUT)


def cpu_model() -> str:
    """The CPU's model name (Linux), else what `platform` says."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    """What a run needs recorded to be reproduced: package and library versions, CPU threads and the code
    version (`checkout_version`)."""
    import mlflow
    import optuna
    import torch

    return {
        "mimo_bench_version": benchmark.__version__,
        "torch_version": torch.__version__,
        "mlflow_version": mlflow.__version__,
        "optuna_version": optuna.__version__,
        "python_version": sys.version.split()[0],
        "torch_threads": str(torch.get_num_threads()),  # CPU results differ in the last bits across thread counts
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # ... and across CPU kernels (AVX2, AVX512)
        "cpu_model": cpu_model(),
        **checkout_version(),
    }
