"""Data files shipped inside installed packages (the ``data`` extra), read without any network access."""

from __future__ import annotations

import importlib.resources
import importlib.util

from benchmark.api.errors import MimoBenchError

EXTRA = "data"


def require(owner: str, package: str) -> None:
    """A `MimoBenchError` naming the extra to install if ``package`` is not importable (the CLI exits 2 with it)."""
    if importlib.util.find_spec(package) is None:
        raise MimoBenchError(
            f"{owner} reads the data bundled with the {package} package, which is not installed: "
            f"pip install 'mimo-bench[{EXTRA}]' (in a checkout: pip install -e '.[{EXTRA}]')"
        )


def read_bytes(owner: str, package: str, *parts: str) -> bytes:
    """The bytes of file ``parts`` inside ``package``, through `importlib.resources` (no download, ever)."""
    require(owner, package)
    resource = importlib.resources.files(package).joinpath(*parts)
    if not resource.is_file():
        raise MimoBenchError(
            f"{owner}: the {package} package has no {'/'.join(parts)}; reinstall it: pip install --force-reinstall "
            f"'mimo-bench[{EXTRA}]'"
        )
    return resource.read_bytes()
