"""`mimo-bench strategies` and `mimo-bench problems`: every registered plugin with its doc and options."""

from __future__ import annotations


def command(registry_name: str) -> int:
    """List every plugin of the registry; one that cannot be used is listed as broken with its reason."""
    import inspect

    from benchmark.api import registry as registries
    from benchmark.api.errors import PluginError

    registry = getattr(registries, registry_name)
    loaded = registry.load_all()
    width = max(map(len, loaded), default=0)  # the longest name sets the column
    for name, cls in loaded.items():
        if isinstance(cls, PluginError):
            print(f"{name:<{width}} BROKEN: {cls}")
            continue
        options = ", ".join(
            f"{k} (required)" if v is inspect.Parameter.empty else f"{k}={v!r}" for k, v in cls.options().items()
        )
        print(f"{name:<{width}} {cls.summary()}")
        print(f"{'':<{width}} options: {options or '(none)'}")
    return 0
