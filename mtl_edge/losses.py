"""Combining the heads' losses: fixed per-head weights or learned uncertainty weighting.

Heads compute their own losses (they know their targets); this module only weighs
them. With ``uncertainty`` each head h gets a learned log-variance s_h and contributes
exp(-s_h) * L_h + s_h (Kendall, Gal & Cipolla 2018), so no hand-tuned weights are needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from mtl_edge.models.network import MultiTaskNet


class MultiTaskLoss(nn.Module):
    """Weighted sum of head losses; samples that don't supervise a head add nothing to it."""

    def __init__(
        self,
        heads: Sequence[str],
        dataset_heads: Sequence[str],
        weights: Mapping[str, float] | None = None,
        uncertainty: bool = False,
    ) -> None:
        super().__init__()
        unknown = set(weights or {}) - set(heads)
        if unknown:
            raise ValueError(f"loss weights name heads the model does not have: {sorted(unknown)}")
        missing = set(heads) - set(dataset_heads)
        if missing:
            raise ValueError(f"the dataset has no supervision column for heads {sorted(missing)}")
        self.heads = list(heads)
        self.column = {h: list(dataset_heads).index(h) for h in heads}
        self.weights = {h: float((weights or {}).get(h, 1.0)) for h in heads}
        self.log_vars = nn.ParameterDict({h: nn.Parameter(torch.zeros(())) for h in heads}) if uncertainty else None

    def forward(
        self, net: MultiTaskNet, raw: dict[str, dict[str, Tensor]], targets: dict[str, Any]
    ) -> dict[str, Tensor]:
        """Total loss under "loss", each head's under its name, and its parts under "<head>/<part>"."""
        supervises: Tensor = targets["supervises"]
        total = torch.zeros((), device=supervises.device)
        out: dict[str, Tensor] = {}
        for name in self.heads:
            parts = net.heads[name].loss(raw[name], targets, supervises[:, self.column[name]])
            head_loss = parts.pop("loss")
            if self.log_vars is not None:
                s = self.log_vars[name]
                total = total + self.weights[name] * (torch.exp(-s) * head_loss + s)
            else:
                total = total + self.weights[name] * head_loss
            out[name] = head_loss.detach()
            out.update({f"{name}/{k}": v for k, v in parts.items()})
        out["loss"] = total
        return out
