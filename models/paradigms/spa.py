"""SPA — Side Plugin Adaptation: the backbone on the cloud, a ladder side network on the device.

Side network (after the SPA code): h = input_adapter(emb) [d→w]; for each layer i:
h = down_i(y_i) + side_i(ReLU(h)), y_i the output of backbone layer i, down_i: d→w, side_i a
residual bottleneck w→d→w (side_i(u) = u + W2·ReLU(W1·u)); the side output is
output_adapter(ReLU(h)) [w→d]. splitbench adds it to the backbone's final (normed) hidden state
before the cloud LM head. Everything in the side network is position-wise, so only the last
position's states are needed for the next token: a prefill streams (L+1) vectors, not P·(L+1).

Gate semantics (documented choice): the gate for a forward step is known when the step starts, so
the cloud can stream hidden states down as its layers finish (the device side network consumes
them as they arrive — the one place a trace overlaps cloud compute with transfers and device work).
``always`` / ``never`` / ``rate`` (seeded Bernoulli, ``random.Random(seed)``, one draw per forward
step) are exogenous; ``classifier`` applies the cloud's Linear(d, 2) to the final hidden state of
the previous step's last position (the first step, having none, is routed through the side
network). With the gate closed, nothing but the token goes down.

``down_proj: device`` sends y_i (d values each) and the embedding output; ``down_proj: cloud``
runs input_adapter and down_i on the cloud and sends w values each.
"""

from __future__ import annotations

import copy
import random
from typing import TYPE_CHECKING, Any

from splitbench.models.catalog import ModelPreset
from splitbench.models.paradigms.base import SplitModel
from splitbench.models.paradigms.params import QKV, Param, format_value, fraction, one_of, positive_int

if TYPE_CHECKING:
    import torch
    from torch import nn

GATES = ("always", "never", "rate", "classifier")


class GateSchedule:
    """The per-step gate decisions, shared by the split model and the one-process reference."""

    def __init__(self, mode: str, rate: float, seed: int):
        self.mode, self.rate, self.rng = mode, rate, random.Random(seed)
        self.prev_open: bool | None = None

    def decide(self, prev_gate_logits: torch.Tensor | None) -> bool:
        if self.mode == "always":
            return True
        if self.mode == "never":
            return False
        if self.mode == "rate":
            return self.rng.random() < self.rate
        if prev_gate_logits is None or prev_gate_logits.device.type == "meta":
            return True
        import torch

        return bool(torch.argmax(prev_gate_logits, dim=-1).item() == 1)


class SPA(SplitModel):
    name = "spa"
    label = "SPA"
    description = "SPA: cloud backbone + gate, ladder side network on the device; hidden states down"
    color = "#2ca02c"  # green
    order = 4
    params = (
        Param("side_width", 32, positive_int, "width w of the side network"),
        Param("gate", "always", one_of(*GATES), "when the side network runs: " + ", ".join(GATES)),
        Param("gate_rate", 0.5, fraction, "share of tokens through the side network (gate: rate)"),
        Param("down_proj", "device", one_of("device", "cloud"), "where the d->w down projections run"),
    )
    label_params = (("gate", "gate={}"), ("side_width", "w={}"), ("down_proj", "down_proj={}"))
    data_leaving_device = "tokens"

    @classmethod
    def check_params(cls, p: dict[str, Any], given: dict[str, Any]) -> None:
        # A gate_rate on its own means "open the gate at that rate", not a number silently ignored by
        # the default `always` gate. (A resolved method names its gate, so this is idempotent.)
        if "gate_rate" in given and "gate" not in given:
            p["gate"] = "rate"

    @classmethod
    def label_parts(cls, p: dict[str, Any]) -> tuple[list[str], set[str]]:
        gate, rate = p.get("gate"), format_value(p.get("gate_rate"))
        q = {
            **p,
            "gate": {"rate": p.get("gate_rate"), "classifier": f"{gate}@{rate}"}.get(gate, gate),
            "down_proj": None if p.get("down_proj") == "device" else p.get("down_proj"),
        }
        parts, shown = super().label_parts(q)
        return parts, shown | {"gate_rate"}  # the rate matters only for the rate/classifier gates

    @classmethod
    def comparable_lora_split(cls, p: dict[str, Any]) -> dict[str, Any]:
        """LoRA on q/k/v of every layer with the LM head on the cloud (SPA's tokens are on the cloud
        too): the conventional device-side adaptation of the same backbone."""
        return {"name": "lora-split", "targets": QKV, "layers": "all", "head_on_device": False}

    @classmethod
    def verify_cases(cls, preset: ModelPreset) -> list[dict[str, Any]]:
        return [
            {"name": cls.name, "gate": "rate", "gate_rate": 0.5},
            {"name": cls.name, "gate": "always", "down_proj": "cloud"},
        ]

    @classmethod
    def prefill_variant(cls, p: dict[str, Any]) -> bool:
        """The gate-open form whenever the gate can open (conservative)."""
        return not (p["gate"] == "never" or (p["gate"] == "rate" and p["gate_rate"] == 0))

    def variant_weights(self) -> tuple[list[tuple[str, float]], str | None]:
        rate, source = self.gate_rate()
        return [("gate_open", rate), ("gate_closed", 1.0 - rate)], source

    def gate_rate(self) -> tuple[float, str]:
        """Share of decode steps with the gate open, and where it comes from."""
        gate = self.params["gate"]
        if gate == "always":
            return 1.0, "gate always open"
        if gate == "never":
            return 0.0, "gate never open"
        if gate == "rate" or self.mode == "shape":
            return float(self.params["gate_rate"]), "gate_rate parameter" + (
                " (assumed for the classifier)" if gate != "rate" else ""
            )
        # numeric classifier: measured over a seeded greedy generation of 16 tokens
        import torch

        self.reset()
        self.set_variant(None)
        logits = self.forward(self.random_ids(8))
        for _ in range(16):
            logits = self.forward(torch.argmax(logits, dim=-1, keepdim=True))
        opened = self.opened[1:]
        return sum(opened) / len(opened), "measured: classifier over 16 greedy decode steps (numeric)"

    def reference(self) -> SPAReference:
        return SPAReference(self)

    def privacy_forms(self) -> tuple[str, str, str]:
        # prompt ids up, the cloud runs embedding, backbone and LM head and picks each token; the
        # side network (the personalisation) stays on the device
        return "token ids", "token ids", "device"

    def setup(self) -> None:
        import torch
        from torch import nn

        from splitbench.models.modules import SideNetwork

        if self.mode == "numeric":
            self.pristine = copy.deepcopy(self.model)
        d, w, L = self.preset.hidden_size, int(self.params["side_width"]), self.n_layers()
        with torch.device(self.device):
            self.sidenet = SideNetwork(d, w, L).to(self.torch_dtype)
            self.gate = nn.Linear(d, 2).to(self.torch_dtype)
        self.init_(self.sidenet, 0.5 * d**-0.5)
        self.init_(self.gate, d**-0.5)
        self.sidenet.requires_grad_(False)
        self.gate.requires_grad_(False)
        self.reset_gate()

    def reset_gate(self) -> None:
        self.schedule = GateSchedule(self.params["gate"], float(self.params["gate_rate"]), self.seed)
        self.prev_gate_logits: torch.Tensor | None = None
        self.forced: bool | None = None
        self.opened: list[bool] = []

    def reset(self) -> None:
        super().reset()
        self.reset_gate()

    def extra_modules(self) -> list[nn.Module]:
        return [self.sidenet, self.gate]

    def decode_variants(self) -> dict[str, bool]:
        return {"gate_open": True, "gate_closed": False}

    def set_variant(self, variant: bool | None) -> None:
        self.forced = variant

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        import torch

        open_ = self.schedule.decide(self.prev_gate_logits) if self.forced is None else self.forced
        if self.forced is None and self.params["gate"] == "classifier" and self.past > 0:
            closed = self.channel.next_is_ids()  # a live device half: the cloud's decision, from the wire
            if closed is not None:
                open_ = not closed
        self.opened.append(open_)
        on_cloud = self.params["down_proj"] == "cloud"
        rec, ch = self.rec, self.channel
        if self.past == 0:
            ids, _ = ch.send("up", ids, "prompt ids up", ids=True)
        first = rec.begin("cloud", "embed", deps=(rec.steps[-1].id,) if rec.recording and rec.steps else ())
        emb = self.embed(ids)
        state: dict[str, object] = {"cloud": first, "device": None, "h": None}

        def stream(i: int, y: torch.Tensor) -> None:
            """After backbone layer i (i=-1: the embedding): send and run the side step on the device."""
            y_last = y[:, -1:, :]
            if on_cloud:
                proj = self.sidenet.input_adapter if i < 0 else self.sidenet.downs[i]
                y_last = proj(y_last)
            msg, tid = ch.send(
                "down", y_last, "embedding down" if i < 0 else f"L{i} hidden down", deps=(state["cloud"],)
            )
            deps = (tid,) if state["device"] is None else (tid, state["device"])
            state["device"] = rec.begin("device", "side input" if i < 0 else f"side layer {i}", deps=deps)
            if not self.runs("device"):
                return
            if i < 0:
                state["h"] = msg if on_cloud else self.sidenet.input_adapter(msg)
            else:
                down = msg if on_cloud else self.sidenet.downs[i](msg)
                state["h"] = down + self.sidenet.side(i, state["h"])

        if open_:
            stream(-1, emb)
        h = emb
        pos = torch.arange(self.past, self.past + ids.shape[1], device=emb.device).unsqueeze(0)
        state["cloud"] = rec.begin("cloud", "rope+mask", deps=(state["cloud"],))
        pe = self.core.rotary_emb(h, position_ids=pos)
        mask = self.causal_mask(ids.shape[1], h)
        for i in range(self.n_layers()):
            state["cloud"] = rec.begin("cloud", f"layer {i}", deps=(state["cloud"],))
            h = self.layers[i](
                h,
                attention_mask=mask,
                position_ids=pos,
                past_key_values=self.caches["cloud"],
                use_cache=True,
                position_embeddings=pe,
            )
            if open_:
                stream(i, h)
        state["cloud"] = rec.begin("cloud", "final norm+gate", deps=(state["cloud"],))
        if self.runs("cloud"):
            h_last = self.final_norm(h)
            self.prev_gate_logits = self.gate(h_last)[:, -1, :]
        else:  # a live device half: the cloud's hidden states and gate never reach it
            h_last = torch.empty(h.shape, dtype=h.dtype, device="meta")
        if open_:
            rec.begin("device", "side output", deps=(state["device"],))
            side_out = (self.sidenet.output(state["h"]) if self.runs("device")
                        else torch.empty((*h.shape[:-2], 1, h.shape[-1]), dtype=h.dtype, device="meta"))
            s, up = ch.send("up", side_out, "side output up")
            rec.begin("cloud", "add side+lm_head", deps=(state["cloud"], up))
            h_last = h_last + s
        else:
            rec.begin("cloud", "lm_head", deps=(state["cloud"],))
        logits = self.lm_head(h_last)
        # gate open or closed, the next step starts with the cloud's embedding: the token is streamed
        self.send_token_down(logits, deps=(rec.steps[-1].id,) if rec.recording else None, streamed=True)
        return logits


class SPAReference:
    """SPA in one process: the unsplit transformers model (its own forward and DynamicCache), the
    layer outputs collected with forward hooks, the same side network and gate, no channel."""

    def __init__(self, split: SPA):
        from transformers import DynamicCache

        self.model, self.sidenet, self.gate = split.pristine, split.sidenet, split.gate
        self.schedule = GateSchedule(split.params["gate"], float(split.params["gate_rate"]), split.seed)
        self.cache = DynamicCache(config=self.model.config)
        self.prev: torch.Tensor | None = None
        self.ys: list[torch.Tensor] = []
        self.hooks = [
            layer.register_forward_hook(lambda m, a, out: self.ys.append(out))
            for layer in self.model.model.layers
        ]
        self.hooks.append(
            self.model.model.embed_tokens.register_forward_hook(lambda m, a, out: self.ys.append(out))
        )

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        import torch

        open_ = self.schedule.decide(self.prev)
        self.ys = []
        with torch.inference_mode():
            out = self.model.model(input_ids=ids, past_key_values=self.cache, use_cache=True)
            h_last = out.last_hidden_state[:, -1:, :]
            self.prev = self.gate(h_last)[:, -1, :]
            if open_:
                emb, ys = self.ys[0], self.ys[1:]
                h_last = h_last + self.sidenet(emb[:, -1:, :], [y[:, -1:, :] for y in ys])
            return self.model.lm_head(h_last)[:, -1, :]

    def close(self) -> None:
        for h in self.hooks:
            h.remove()
