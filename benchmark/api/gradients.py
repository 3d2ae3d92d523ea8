"""Per-task gradients for strategies: the T x P matrix of task gradients, and one direction written back.

``task_gradients`` takes one ``torch.autograd.grad`` per task over the given tensors (shared parameters,
or the shared representation that every head reads), optionally together with that task's own extra
tensors (its head's parameters) in the same call, so the heads cost no second backward.
``task_jacobian`` stacks them into the T x P matrix whose row t is d L_t / d inputs, flattened and
concatenated in the order of ``inputs``.  ``apply_direction`` writes one aggregated direction (a P-vector)
back: into ``.grad`` of leaf tensors (added to what is there, e.g. from a head), or, for a non-leaf tensor
such as the representation, by one backward pass from it, which accumulates into the leaves below it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def task_gradients(
    losses: Sequence[torch.Tensor],
    inputs: Sequence[torch.Tensor],
    extra: Sequence[Sequence[torch.Tensor]] | None = None,
    retain_graph: bool = True,
) -> tuple[list[tuple[torch.Tensor, ...]], list[tuple[torch.Tensor, ...]]]:
    """Per task t: d losses[t] / d inputs (zeros where unused), and d losses[t] / d extra[t].

    The graph is kept for every task but the last unless ``retain_graph`` (default: kept for all, so a
    backward can follow).
    """
    inputs = list(inputs)
    per_input, per_extra = [], []
    for index, loss in enumerate(losses):
        own = list(extra[index]) if extra is not None else []
        keep = retain_graph or index < len(losses) - 1
        grads = torch.autograd.grad(loss, inputs + own, retain_graph=keep, allow_unused=True, materialize_grads=True)
        per_input.append(tuple(grads[: len(inputs)]))
        per_extra.append(tuple(grads[len(inputs) :]))
    return per_input, per_extra


def flatten(gradients: Sequence[torch.Tensor]) -> torch.Tensor:
    """One task's gradients over several tensors as one vector, in their order."""
    return torch.cat([g.reshape(-1) for g in gradients])


def task_jacobian(
    losses: Sequence[torch.Tensor], inputs: Sequence[torch.Tensor], retain_graph: bool = True
) -> torch.Tensor:
    """The T x P matrix of task gradients over ``inputs`` (row t = d losses[t] / d inputs, flattened)."""
    per_input, _ = task_gradients(losses, inputs, retain_graph=retain_graph)
    return torch.stack([flatten(grads) for grads in per_input])


def gradient_norm(gradients: Sequence[torch.Tensor]) -> torch.Tensor:
    """The Euclidean norm of one task's gradients over several tensors (summed per tensor, then overall)."""
    return torch.stack([g.pow(2).sum() for g in gradients]).sum().sqrt()


def add_to_grad(tensors: Sequence[torch.Tensor], gradients: Sequence[torch.Tensor]) -> None:
    """Accumulate ``gradients`` into the ``.grad`` of the leaf ``tensors`` (set where there is none)."""
    for tensor, gradient in zip(tensors, gradients, strict=True):
        tensor.grad = gradient if tensor.grad is None else tensor.grad + gradient


def apply_direction(direction: torch.Tensor, tensors: Sequence[torch.Tensor]) -> None:
    """Write the P-vector ``direction`` (laid out as `task_jacobian`'s rows) back over ``tensors``.

    Leaf tensors get it added to their ``.grad``; non-leaf tensors (the representation) are
    back-propagated from once, with their slice of ``direction`` as the incoming gradient, which frees
    the graph below them.
    """
    tensors = list(tensors)
    pieces = [p.view_as(t) for p, t in zip(direction.split([t.numel() for t in tensors]), tensors, strict=True)]
    leaves = [(t, p) for t, p in zip(tensors, pieces, strict=True) if t.is_leaf]
    inner = [(t, p) for t, p in zip(tensors, pieces, strict=True) if not t.is_leaf]
    if leaves:
        add_to_grad([t for t, _ in leaves], [p for _, p in leaves])
    if inner:
        torch.autograd.backward([t for t, _ in inner], [p for _, p in inner])


def conflict_share(gramian: torch.Tensor) -> torch.Tensor:
    """The share of task pairs whose gradients have a negative inner product (0-d tensor; 0 for one task)."""
    count = gramian.shape[0]
    if count < 2:
        return gramian.new_zeros(())
    rows, cols = torch.triu_indices(count, count, offset=1, device=gramian.device)
    return (gramian[rows, cols] < 0).float().mean()
