"""The MIMO net, per-task losses and metrics, the training loop, single-task nets and gradient diagnostics."""
