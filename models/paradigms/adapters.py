"""Low-rank adapters on the frozen projections, with the adapter math split across the link.

Both paradigms replace each adapted ``nn.Linear`` by a :class:`SplitLinear` that returns
``base(x) + delta(x)``. Projections that read the same input (q/k/v; gate/up) form a *group*: the
first member called runs one exchange for the whole group — one message down, one up — and the
others pick up their deltas. That is how the PrivateLoRA demo stacks q, k and v, and how a
device-side LoRA would batch them.

- ``privatelora``: cloud A (d_in→r_c2d) ; device M (r_c2d→r_d2c) ; cloud B (r_d2c→d_out). ΔW = B·M·A,
  no α/r scaling. Down: r_c2d values per member; up: r_d2c per member.
- ``lora-split``: peft's own LoRA modules on the device: x (d_in values) down, Σ d_out up.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from splitbench import SplitbenchError
from splitbench.models.paradigms.base import SplitModel

ALL_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
GROUP_OF = {
    "q_proj": "qkv",
    "k_proj": "qkv",
    "v_proj": "qkv",
    "o_proj": "o",
    "gate_proj": "gate_up",
    "up_proj": "gate_up",
    "down_proj": "down",
}


def parent_of(layer: nn.Module, name: str) -> nn.Module:
    return layer.self_attn if name in ("q_proj", "k_proj", "v_proj", "o_proj") else layer.mlp


def resolve_layers(spec: Any, n_layers: int) -> list[int]:
    """``"all"``, ``"lora-s"`` (the PrivateLoRA paper's two layers: n/2-1 and n-1, e.g. 15 and 31 for
    32 layers) or a list of indices."""
    if spec == "all":
        return list(range(n_layers))
    if spec == "lora-s":
        return sorted({n_layers // 2 - 1, n_layers - 1})
    if (
        isinstance(spec, list | tuple)
        and all(isinstance(i, int) and 0 <= i < n_layers for i in spec)
        and spec
    ):
        return sorted(set(spec))
    raise SplitbenchError(
        f"method.layers: {spec!r} must be 'all', 'lora-s' or a list of layer indices < {n_layers}"
    )


class DeltaGroup:
    """Deltas of the projections of one layer that share an input, computed in one exchange."""

    def __init__(self, split: AdapterSplit, layer: int, key: str, names: list[str]):
        self.split, self.layer, self.key, self.names = split, layer, key, names
        self._x: torch.Tensor | None = None
        self._deltas: dict[str, torch.Tensor] = {}

    def delta(self, name: str, x: torch.Tensor) -> torch.Tensor:
        if self._x is not x or name not in self._deltas:
            self._deltas = self.split.exchange(self, x)
            self._x = x
        d = self._deltas.pop(name)
        if not self._deltas:
            self._x = None
        return d


class SplitLinear(nn.Module):
    def __init__(self, base: nn.Linear, name: str, group: DeltaGroup):
        super().__init__()
        self.base, self.proj_name = base, name
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        delta = self.group.delta(self.proj_name, x)
        return self.base(x) + delta


class AdapterSplit(SplitModel):
    """Common placement: cloud decoder; embedding/LM head on the device when ``head_on_device``."""

    def data_leaving(self) -> str:
        return "activations" if self.head_on_device() else "tokens"

    def privacy_forms(self) -> tuple[str, str, str]:
        # head on device: embedding rows go up and the final hidden state comes down (the cloud runs
        # the whole decoder, private deltas applied); otherwise prompt ids up and token ids down.
        # Either way the adapter weights that carry the personalisation stay on the device.
        if self.head_on_device():
            return "embedding rows", "final hidden state", "device"
        return "token ids", "token ids", "device"

    def head_on_device(self) -> bool:
        return bool(self.params.get("head_on_device", True))

    def targets(self) -> list[str]:
        return list(self.params["targets"])

    def adapted_layers(self) -> list[int]:
        return resolve_layers(self.params.get("layers", "all"), self.n_layers())

    def install(self) -> None:
        self.groups: list[DeltaGroup] = []
        for i in self.adapted_layers():
            layer = self.layers[i]
            by_group: dict[str, list[str]] = {}
            for n in self.targets():
                by_group.setdefault(GROUP_OF[n], []).append(n)
            for key, names in by_group.items():
                g = DeltaGroup(self, i, key, names)
                self.groups.append(g)
                for n in names:
                    parent = parent_of(layer, n)
                    setattr(parent, n, SplitLinear(getattr(parent, n), n, g))

    def base_linear(self, i: int, name: str) -> nn.Linear:
        mod = getattr(parent_of(self.layers[i], name), name)
        return mod.base if isinstance(mod, SplitLinear) else mod

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        if self.head_on_device():
            self.rec.begin("device", "embed")
            h, _ = self.channel.send("up", self.embed(ids), "embedding up")
        else:
            if self.past == 0:
                ids, _ = self.channel.send("up", ids, "prompt ids up", ids=True)
            self.rec.begin("cloud", "embed")
            h = self.embed(ids)
        h = self.run_layers(h, 0, self.n_layers(), "cloud")
        self.rec.begin("cloud", "final norm")
        h_last = self.final_norm(h)
        if self.head_on_device():
            h_last, _ = self.channel.send("down", h_last, "final hidden down")
            self.rec.begin("device", "lm_head")
            return self.lm_head(h_last)
        self.rec.begin("cloud", "lm_head")
        logits = self.lm_head(h_last)
        self.send_token_down(logits, streamed=True)  # embedding on the cloud: the next step starts there
        return logits

    def exchange(self, group: DeltaGroup, x: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class PrivateLoRA(AdapterSplit):
    name = "privatelora"

    def ranks(self) -> tuple[int, int]:
        p = self.params
        return int(p.get("rank_c2d") or p["rank"]), int(p.get("rank_d2c") or p["rank"])

    def setup(self) -> None:
        if self.mode == "numeric":
            self.pristine = copy.deepcopy(self.model)
        rc, rd = self.ranks()
        self.A, self.M, self.B = nn.ModuleDict(), nn.ModuleDict(), nn.ModuleDict()
        with torch.device(self.device):
            for i in self.adapted_layers():
                for n in self.targets():
                    base = self.base_linear(i, n)
                    k = f"L{i}_{n}"
                    self.A[k] = nn.Linear(base.in_features, rc, bias=False, dtype=self.torch_dtype)
                    self.M[k] = nn.Linear(rc, rd, bias=False, dtype=self.torch_dtype)
                    self.B[k] = nn.Linear(rd, base.out_features, bias=False, dtype=self.torch_dtype)
        # Frozen random A and B (public), a trained-looking M (private): scaled so ΔW is a small
        # but clearly non-zero change of W in numeric checks.
        d = self.preset.hidden_size
        self.init_(self.A, d**-0.5)
        self.init_(self.B, rd**-0.5)
        self.init_(self.M, 0.5 * rc**-0.5)
        for m in (self.A, self.M, self.B):
            m.requires_grad_(False)
        self.install()

    def extra_modules(self) -> list[nn.Module]:
        return [self.A, self.M, self.B]

    def exchange(self, group: DeltaGroup, x: torch.Tensor) -> dict[str, torch.Tensor]:
        i, names, rc, rd = group.layer, group.names, *self.ranks()
        keys = [f"L{i}_{n}" for n in names]
        self.rec.begin("cloud", f"layer {i} A·x")
        a = torch.cat([self.A[k](x) for k in keys], dim=-1)
        a, _ = self.channel.send("down", a, f"L{i} {group.key} A·x down")
        self.rec.begin("device", f"layer {i} M ({group.key})")
        z = torch.cat([self.M[k](part) for k, part in zip(keys, a.split(rc, dim=-1), strict=True)], dim=-1)
        z, _ = self.channel.send("up", z, f"L{i} {group.key} M·A·x up")
        self.rec.begin("cloud", f"layer {i}")
        return {n: self.B[k](part) for n, k, part in zip(names, keys, z.split(rd, dim=-1), strict=True)}

    def reference_model(self) -> nn.Module:
        """The unsplit model with merged weights W + B·M·A (PrivateLoRA's claim of equivalence)."""
        ref = copy.deepcopy(self.pristine)
        for i in self.adapted_layers():
            for n in self.targets():
                k = f"L{i}_{n}"
                lin = getattr(parent_of(ref.model.layers[i], n), n)
                lin.weight.data += self.B[k].weight @ self.M[k].weight @ self.A[k].weight
        return ref


class LoraSplit(AdapterSplit):
    """Device-side LoRA built with peft: the reference model is peft's own."""

    name = "lora-split"

    def head_on_device(self) -> bool:
        return bool(self.params["head_on_device"])

    def setup(self) -> None:
        from peft import LoraConfig, get_peft_model

        layers = self.adapted_layers()
        cfg = LoraConfig(
            r=int(self.params["rank"]),
            lora_alpha=float(self.params["alpha"]),
            target_modules=self.targets(),
            lora_dropout=0.0,
            bias="none",
            layers_to_transform=None if len(layers) == self.n_layers() else layers,
            init_lora_weights=self.mode == "shape",
        )
        if self.mode == "numeric":
            torch.manual_seed(self.seed + 3)  # peft's random init of A and B (init_lora_weights=False)
        src = copy.deepcopy(self.model) if self.mode == "numeric" else self.model
        self.peft_model = get_peft_model(src, cfg)
        self.peft_model.eval()
        if self.mode == "shape":
            # Shape mode: peft injected its LoRA modules into this very model; unwrap them again so
            # the split owns the base Linear and borrows peft's A/B (no second copy of a big model).
            self.model = self.peft_model.base_model.model
        self.lora = nn.ModuleDict()
        self.scaling: dict[str, float] = {}
        for i in layers:
            for n in self.targets():
                parent = parent_of(self.peft_model.base_model.model.model.layers[i], n)
                pm = getattr(parent, n)
                k = f"L{i}_{n}"
                self.lora[k + "_A"] = pm.lora_A["default"]
                self.lora[k + "_B"] = pm.lora_B["default"]
                self.scaling[k] = float(pm.scaling["default"])
                if self.mode == "shape":
                    setattr(parent_of(self.layers[i], n), n, pm.base_layer)
        self.install()

    def extra_modules(self) -> list[nn.Module]:
        return [self.lora]

    def exchange(self, group: DeltaGroup, x: torch.Tensor) -> dict[str, torch.Tensor]:
        i, names = group.layer, group.names
        keys = [f"L{i}_{n}" for n in names]
        xd, _ = self.channel.send("down", x, f"L{i} {group.key} input down")
        self.rec.begin("device", f"layer {i} LoRA ({group.key})")
        outs = [self.lora[k + "_B"](self.lora[k + "_A"](xd)) * self.scaling[k] for k in keys]
        sizes = [o.shape[-1] for o in outs]
        z, _ = self.channel.send("up", torch.cat(outs, dim=-1), f"L{i} {group.key} LoRA deltas up")
        self.rec.begin("cloud", f"layer {i}")
        return dict(zip(names, z.split(sizes, dim=-1), strict=True))

    def reference_model(self) -> nn.Module:
        return self.peft_model
