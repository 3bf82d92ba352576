"""The torch modules the paradigms put into a model: :class:`SplitLinear`, an adapted projection
whose delta comes from an exchange with the other side (PrivateLoRA, lora-split), and SPA's
:class:`SideNetwork`.

Why a module of their own: the paradigm modules (``models.paradigms``) are read wherever a method is
resolved or labelled — a suite being resolved, a report being rendered — and they load torch only
when a split model is built; these classes subclass ``nn.Module`` and so need torch to be defined.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from splitbench.models.paradigms.adapters import DeltaGroup


class SplitLinear(nn.Module):
    """``base(x)`` plus the delta its :class:`DeltaGroup` gets for ``x`` from the other side."""

    def __init__(self, base: nn.Linear, name: str, group: DeltaGroup):
        super().__init__()
        self.base, self.proj_name = base, name
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        delta = self.group.delta(self.proj_name, x)
        return self.base(x) + delta


class SideNetwork(nn.Module):
    """SPA's ladder side network (its layout in the docstring of ``models.paradigms.spa``)."""

    def __init__(self, d: int, w: int, n_layers: int):
        super().__init__()
        self.input_adapter = nn.Linear(d, w)
        self.downs = nn.ModuleList(nn.Linear(d, w) for _ in range(n_layers))
        self.side_up = nn.ModuleList(nn.Linear(w, d) for _ in range(n_layers))
        self.side_down = nn.ModuleList(nn.Linear(d, w) for _ in range(n_layers))
        self.output_adapter = nn.Linear(w, d)

    def side(self, i: int, h: torch.Tensor) -> torch.Tensor:
        u = torch.relu(h)
        return u + self.side_down[i](torch.relu(self.side_up[i](u)))

    def output(self, h: torch.Tensor) -> torch.Tensor:
        return self.output_adapter(torch.relu(h))

    def forward(self, emb: torch.Tensor, ys: list[torch.Tensor]) -> torch.Tensor:
        """The whole side network in one process (the reference)."""
        h = self.input_adapter(emb)
        for i, y in enumerate(ys):
            h = self.downs[i](y) + self.side(i, h)
        return self.output(h)
