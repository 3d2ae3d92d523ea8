"""Built-in strategies, one module each; see `benchmark.api.strategy` for the contract.

``FAMILIES`` names the strategies that share a module (the torchjd adapter's tables), so that the
registry lists them without importing anything.
"""

FAMILIES = {
    **dict.fromkeys(
        ("upgrad", "dualproj", "pcgrad", "gradvac", "graddrop", "config", "cagrad"), "strategies._torchjd.conflict"
    ),
    **dict.fromkeys(
        ("mgda", "imtl_g", "aligned_mtl", "fairgrad", "excess_mtl", "cr_mogm"), "strategies._torchjd.balance"
    ),
}
