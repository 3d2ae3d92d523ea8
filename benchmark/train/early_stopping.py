"""Early stopping on the val selection score: stop after ``patience`` epochs without an improvement.

An epoch improves when its score (`benchmark.train.trainer.selection_score`, lower is better) is below
the score of the last improving epoch minus ``min_delta`` (the score is relative to epoch 1's val
losses, so ``min_delta = 0.01`` asks for 1 % of the first epoch's mean relative val loss).  After
``patience`` epochs in a row without one the run stops; the best-val epoch is still chosen by the
plain minimum of the score.  Only val is read, never test.  Its state is part of the resume checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class EarlyStopping:
    """Counts epochs since the last improvement of the val selection score; ``patience`` 0 never stops."""

    patience: int = 0
    min_delta: float = 0.0
    reference: float = math.inf  # the score of the last improving epoch
    waited: int = 0  # epochs since then
    stopped_epoch: int = 0  # the epoch after which training stopped; 0 while it goes on

    @property
    def stopped(self) -> bool:
        return self.stopped_epoch > 0

    def update(self, epoch: int, score: float) -> None:
        """Record epoch ``epoch``'s score."""
        if score < self.reference - self.min_delta:
            self.reference, self.waited = score, 0
            return
        self.waited += 1
        if self.patience and self.waited >= self.patience:
            self.stopped_epoch = epoch

    def state_dict(self) -> dict[str, float]:
        return {"reference": self.reference, "waited": self.waited, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.reference, self.waited, self.stopped_epoch = state["reference"], state["waited"], state["stopped_epoch"]
