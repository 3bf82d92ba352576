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

import contextlib
import copy
from typing import TYPE_CHECKING, Any

from splitbench.models.catalog import ModelPreset
from splitbench.models.paradigms.base import SplitModel
from splitbench.models.paradigms.params import (
    QKV,
    Param,
    boolean,
    layer_indices,
    layers,
    optional_positive_int,
    positive_int,
    positive_number,
    targets,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

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
        return layer_indices(self.params.get("layers", "all"), self.n_layers())

    def install(self) -> None:
        from splitbench.models.modules import SplitLinear

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
        from splitbench.models.modules import SplitLinear

        mod = getattr(parent_of(self.layers[i], name), name)
        return mod.base if isinstance(mod, SplitLinear) else mod

    def head_transfers(self) -> bool:
        """Whether the embedding upload and final-hidden download count as transfers (false: the
        paper's accounting, which leaves them out; the tensors still reach the other side)."""
        return bool(self.params.get("head_transfers", True))

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        if self.head_on_device():
            self.rec.begin("device", "embed")
            h = self.embed(ids)
            if self.head_transfers():
                h, _ = self.channel.send("up", h, "embedding up")
        else:
            if self.past == 0:
                ids, _ = self.channel.send("up", ids, "prompt ids up", ids=True)
            self.rec.begin("cloud", "embed")
            h = self.embed(ids)
        h = self.run_layers(h, 0, self.n_layers(), "cloud")
        self.rec.begin("cloud", "final norm")
        h_last = self.final_norm(h)
        if self.head_on_device():
            if self.head_transfers():
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
    label = "PrivateLoRA"
    description = "PrivateLoRA: cloud decoder + frozen A/B, private M on the device; r-wide activations"
    color = "#d62728"  # red
    order = 3
    params = (
        Param("rank", 128, positive_int, "r, both directions"),
        Param("rank_c2d", None, optional_positive_int, "r of A·x (cloud to device), default rank"),
        Param("rank_d2c", None, optional_positive_int, "r of M·A·x (device to cloud), default rank"),
        Param("targets", QKV, targets, "adapted projections ('all', or q/k/v/o/gate/up/down)"),
        Param("layers", "all", layers, "adapted layers: 'all', 'lora-s' or indices"),
        # accounting switches, realistic by default; the paper's estimate counts neither the embedding
        # upload nor the final hidden state's download, and A/B as part of the projections
        Param("head_transfers", True, boolean,
              "count the embedding upload and the final hidden state's download (false: the paper's "
              "estimate)"),
        Param("fused_adapters", False, boolean,
              "A and B fused into the projections: no kernels of their own (the paper's estimate)"),
    )
    label_params = (("rank", "r={}"), ("rank_c2d", "r_c2d={}"), ("rank_d2c", "r_d2c={}"))

    @classmethod
    def label_parts(cls, p: dict[str, Any]) -> tuple[list[str], set[str]]:
        # a direction's rank is shown only where it differs from ``rank``
        q = {**p, **{k: None for k in ("rank_c2d", "rank_d2c") if p.get(k) == p.get("rank")}}
        return super().label_parts(q)

    @classmethod
    def comparable_lora_split(cls, p: dict[str, Any]) -> dict[str, Any]:
        """LoRA on the same projections and layers with the embedding and LM head on the device (the
        same placement: the only difference is r-wide versus full-width activations)."""
        return {"name": "lora-split", "targets": p["targets"], "layers": p["layers"], "head_on_device": True}

    @classmethod
    def verify_cases(cls, preset: ModelPreset) -> list[dict[str, Any]]:
        return [
            {"name": cls.name, "rank": 8},
            {"name": cls.name, "rank_c2d": 6, "rank_d2c": 4, "targets": "all"},
        ]

    def ranks(self) -> tuple[int, int]:
        p = self.params
        return int(p.get("rank_c2d") or p["rank"]), int(p.get("rank_d2c") or p["rank"])

    def setup(self) -> None:
        import torch
        from torch import nn

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
        import torch

        i, names, rc, rd = group.layer, group.names, *self.ranks()
        keys = [f"L{i}_{n}" for n in names]
        fused = self.rec.fused if self.params.get("fused_adapters") else contextlib.nullcontext
        self.rec.begin("cloud", f"layer {i} A·x")
        with fused():
            a = torch.cat([self.A[k](x) for k in keys], dim=-1)
        a, _ = self.channel.send("down", a, f"L{i} {group.key} A·x down")
        self.rec.begin("device", f"layer {i} M ({group.key})")
        z = torch.cat([self.M[k](part) for k, part in zip(keys, a.split(rc, dim=-1), strict=True)], dim=-1)
        z, _ = self.channel.send("up", z, f"L{i} {group.key} M·A·x up")
        self.rec.begin("cloud", f"layer {i}")
        with fused():
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
    label = "LoRA on the device (lora-split)"
    description = "LoRA weights on the device (peft), full-width activations down and deltas up"
    color = "#ff7f0e"  # orange
    order = 5
    params = (
        Param("rank", 16, positive_int, "LoRA r"),
        Param("alpha", 32, positive_number, "LoRA alpha (scaling alpha / r)"),
        Param("targets", QKV, targets, "adapted projections ('all', or q/k/v/o/gate/up/down)"),
        Param("layers", "all", layers, "adapted layers: 'all', 'lora-s' or indices"),
        Param("head_on_device", False, boolean, "embedding and LM head on the device"),
    )
    label_params = (("rank", "r={}"), ("layers", "layers={}"))

    @classmethod
    def label_parts(cls, p: dict[str, Any]) -> tuple[list[str], set[str]]:
        shown_layers = None if p.get("layers") in ("all", []) else p.get("layers")
        return super().label_parts({**p, "layers": shown_layers})

    @classmethod
    def comparable_lora_split(cls, p: dict[str, Any]) -> dict[str, Any]:
        return {"name": cls.name, **p}

    @classmethod
    def verify_cases(cls, preset: ModelPreset) -> list[dict[str, Any]]:
        return [
            {"name": cls.name, "rank": 4, "alpha": 8},
            {"name": cls.name, "rank": 4, "alpha": 8, "targets": "all", "layers": "lora-s",
             "head_on_device": True},
        ]

    def head_on_device(self) -> bool:
        return bool(self.params["head_on_device"])

    def setup(self) -> None:
        import torch
        from peft import LoraConfig, get_peft_model
        from torch import nn

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
        # shape mode: peft's A and B are made on the meta device, where the base layers are (made on
        # the CPU, they would be initialised there for nothing and then moved)
        with torch.device("meta") if self.mode == "shape" else contextlib.nullcontext():
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
        import torch

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
