"""The MIMO net, per-task losses and metrics, the training loop, its optimizer and schedule, early stopping, single-task nets and gradient diagnostics."""
