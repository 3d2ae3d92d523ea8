"""`mimo-bench strategies` and `mimo-bench problems`: every registered plugin with its doc and options."""

from __future__ import annotations


def command(registry_name: str) -> int:
    import inspect

    from benchmark.api import registry as registries

    registry = getattr(registries, registry_name)
    for name, cls in registry.load_all().items():
        options = ", ".join(
            f"{k} (required)" if v is inspect.Parameter.empty else f"{k}={v!r}" for k, v in cls.options().items()
        )
        print(f"{name:<14} {cls.summary()}")
        print(f"{'':<14} options: {options or '(none)'}")
    return 0
