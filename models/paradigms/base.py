"""The shared machinery of a split model: the real transformers decoder run layer by layer, with
each piece of work attributed to a side and every tensor that changes sides sent through the channel.

A paradigm subclass decides placement (which side runs what) and what crosses the link; the base
class owns the transformers model, the per-side KV caches, the channel and the recorder, and the
helpers every paradigm uses (embed, run decoder layers, final norm, LM head, token hand-over).

``step(ids)`` runs one forward step (a prefill of q tokens or a decode step of one) and returns the
logits of the last position (what generation needs; the LM head runs on that position only).

A paradigm's declaration (name, parameters, labels, colour, order) is read without torch: torch and
the recorder load where a split model is built and run, so resolving a suite or rendering a report
does not load them.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, ClassVar

from splitbench.models.catalog import ModelPreset, build_model
from splitbench.models.codec import CODECS, KV_CACHES, get_codec, per_side, torch_dtype
from splitbench.models.paradigms.params import Param, format_value
from splitbench.models.privacy import privacy_columns

if TYPE_CHECKING:
    import torch
    from torch import nn

    from splitbench.models.tracing import Recorder


class HFReference:
    """An unsplit transformers model stepped with its own DynamicCache."""

    def __init__(self, model: nn.Module):
        from transformers import DynamicCache

        self.model = model
        self.cache = DynamicCache(config=getattr(model, "config", None))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        import torch

        with torch.inference_mode():
            return self.model(input_ids=ids, past_key_values=self.cache, use_cache=True).logits[:, -1, :]


class SplitModel:
    """One paradigm: its declaration (class attributes and classmethods, read without building
    anything) and its split model (an instance: the real decoder, split and recorded).

    A paradigm declares:

    - ``name`` (the method name in suites and results), ``label`` (its name in reports),
      ``description`` (``splitbench list methods``), ``color`` and ``order`` (every plot and table);
    - ``params``: its parameters with defaults and checks; ``check_params`` for checks across them
      and ``check_model`` for checks against the model;
    - ``label_params``: the parameters its method label shows (``privatelora r=128``);
    - ``data_leaving_device``: what leaves the user's device (``nothing``, ``activations``,
      ``tokens``), ``data_leaving`` where it depends on the parameters; ``privacy_forms``: the
      forms the prompt and output take on the cloud and where the private weights live
      (models/privacy.py turns them into the privacy columns);
    - its decode variants (``decode_variants``) and how often each is taken (``variant_weights``);
    - ``comparable_lora_split``: the lora-split whose payload is its comm_reduction_pct reference;
    - ``whole_model_side``: the side that runs the whole model unsplit, if any;
    - ``verify_cases``: the parameterisations ``splitbench verify`` checks against its reference.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    description: ClassVar[str] = ""
    color: ClassVar[str] = "#7f7f7f"
    order: ClassVar[int] = 100
    params: ClassVar[tuple[Param, ...]] = ()
    label_params: ClassVar[tuple[tuple[str, str], ...]] = ()
    data_leaving_device: ClassVar[str] = "activations"
    whole_model_side: ClassVar[str | None] = None

    # ----- the declaration
    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {p.name: copy.deepcopy(p.default) for p in cls.params}

    @classmethod
    def check_params(cls, p: dict[str, Any], given: dict[str, Any]) -> None:
        """Checks across parameters (``p``: all of them, checked; ``given``: what the user wrote);
        may complete ``p``."""

    @classmethod
    def check_model(cls, p: dict[str, Any], preset: ModelPreset) -> None:
        """Checks of the parameters against the model (a layer count, …)."""

    @classmethod
    def comparable_lora_split(cls, p: dict[str, Any]) -> dict[str, Any] | None:
        """The lora-split (as a method mapping) whose payload is the reference for
        comm_reduction_pct, or None where nothing is adapted on the device to compare with."""
        return None

    @classmethod
    def label_parts(cls, p: dict[str, Any]) -> tuple[list[str], set[str]]:
        """The method label's parts after the name, and the parameters they account for."""
        parts = []
        for key, fmt in cls.label_params:
            v = p.get(key)
            if v is not None:
                parts.append(fmt.format(format_value(v)))
        return parts, {k for k, _ in cls.label_params}

    @classmethod
    def method_label(cls, p: dict[str, Any]) -> str:
        """``privatelora r=128``, ``spa gate=0.3 w=32``, ``device-only w4bit``: the name, the label
        parameters, and every other parameter that differs from its default as ``key=value``, so
        two different methods never share a label."""
        parts, shown = cls.label_parts(p)
        defaults = cls.defaults()
        changed = [k for k in sorted(p) if k not in shown and k in defaults and p[k] != defaults[k]]
        extra = [f"{k}={format_value(p[k])}" for k in changed]
        return " ".join([cls.name, *parts, *extra])

    @classmethod
    def verify_cases(cls, preset: ModelPreset) -> list[dict[str, Any]]:
        """Parameterisations ``splitbench verify`` runs on ``preset`` (method mappings)."""
        return [{"name": cls.name}]

    @classmethod
    def prefill_variant(cls, p: dict[str, Any]) -> Any:
        """The variant the prefill is recorded in (``set_variant``)."""
        return None

    def __init__(
        self,
        preset: ModelPreset,
        params: dict[str, Any],
        mode: str,
        act_dtype: str,
        seed: int,
        compute_dtype: str | dict[str, str] | None = None,
        kv_dtype: str | dict[str, str] | None = None,
        kv_cache: str | dict[str, str] | None = None,
    ):
        """``act_dtype`` is the wire codec only; ``compute_dtype`` and ``kv_dtype`` (one dtype, or one
        per side; default fp16) are what each side computes in and keeps its KV cache in;
        ``kv_cache`` (static, paged or dynamic; default static) how each side's runtime appends to it."""
        import torch

        from splitbench.models.tracing import Channel, KVCache, Recorder, attach_weight_hooks

        self.preset, self.params, self.mode, self.act_dtype, self.seed = preset, params, mode, act_dtype, seed
        self.compute_dtype = per_side(compute_dtype, "compute_dtype")
        self.kv_dtype = per_side(kv_dtype, "kv_dtype")
        self.kv_cache = per_side(kv_cache, "kv_cache", KV_CACHES, "static")
        self.device = "meta" if mode == "shape" else "cpu"
        # Numeric runs compute in fp32 on CPU (exact comparisons); shape runs count elements, and the
        # recorder prices them at each side's dtypes.
        self.torch_dtype = torch_dtype(self.compute_dtype["cloud"]) if mode == "shape" else torch.float32
        self.rec = Recorder(
            compute_dtype=self.compute_dtype,
            kv_dtype=self.kv_dtype,
            kv_cache=self.kv_cache,
            weight_bits=self.weight_bits(),
        )
        self.channel = Channel(self.rec, get_codec(act_dtype), CODECS["ids"])
        self.caches = {"device": KVCache(self.rec), "cloud": KVCache(self.rec)}
        self.past = 0
        # The side a live half runs (models/live.py); None: both sides, in one process.
        self.live_side: str | None = None
        # Shape mode: meta-op results memoised across this split's recordings (see tracing._Counter).
        self.memo: dict | None = {} if mode == "shape" else None
        self.model = build_model(preset, self.device, self.torch_dtype, seed)
        self.gen = torch.Generator().manual_seed(seed + 1)
        self.setup()
        attach_weight_hooks(self.model)
        for extra in self.extra_modules():
            attach_weight_hooks(extra)

    # ----- hooks for subclasses -----
    def setup(self) -> None:
        """Create/replace modules (adapters, side networks) before hooks are attached."""

    def extra_modules(self) -> list[nn.Module]:
        return []

    def weight_bits(self) -> dict[str, int]:
        return {"device": 16, "cloud": 16}

    def decode_variants(self) -> dict[str, Any]:
        """Name -> variant of each distinct form a decode step takes (in the order of
        ``variant_weights``); one, ``default``, unless the step's structure varies per token."""
        return {"default": None}

    def variant_weights(self) -> tuple[list[tuple[str, float]], str | None]:
        """How often each decode variant is taken, [(name, probability)] in draw order, and where
        the probabilities come from (None: there is one variant)."""
        return [("default", 1.0)], None

    def trace_meta(self) -> dict[str, Any]:
        """Paradigm facts the trace's meta carries for netsim (device-only: its weight bits)."""
        return {}

    def set_variant(self, variant: Any) -> None:
        """Force a decode variant (SPA gate) for the next recorded step."""

    def layer_side(self, i: int) -> str:
        """Which side holds decoder layer i's KV cache (where its attention runs)."""
        return "cloud"

    def runs(self, side: str) -> bool:
        """Whether this process computes ``side``'s values. A live half skips work of the other side
        whose results never cross to it (SPA's side network on the cloud); whatever a message
        carries is still computed where it is sent, and each side's recorder segments still begin."""
        return self.live_side is None or self.live_side == side

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def data_leaving(self) -> str:
        return self.data_leaving_device

    def privacy_forms(self) -> tuple[str, str, str]:
        """(how the prompt first reaches the cloud, what the cloud computes last for each token, the
        side holding the personalised weights): the inputs of ``models.privacy.privacy_columns``."""
        raise NotImplementedError

    def privacy(self) -> dict[str, str]:
        return privacy_columns(*self.privacy_forms())

    def reference_model(self) -> nn.Module:
        """The unsplit transformers model the split must equal (paradigms without adapters leave
        ``self.model`` untouched, so it is its own reference)."""
        return self.model

    def reference(self) -> Any:
        """What the split must equal, stepped like the split: ``forward(ids)`` -> last logits."""
        return HFReference(self.reference_model())

    # ----- shared pieces -----
    @property
    def core(self) -> nn.Module:
        return self.model.model

    @property
    def layers(self) -> nn.ModuleList:
        return self.core.layers

    def n_layers(self) -> int:
        return len(self.layers)

    def init_(self, module: nn.Module, std: float) -> None:
        """Seeded init of new modules in numeric mode (meta modules have no values)."""
        import torch

        if self.mode == "numeric":
            for p in module.parameters():
                p.data = torch.randn(p.shape, generator=self.gen, dtype=torch.float32) * std

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.core.embed_tokens(ids)

    def run_layers(self, h: torch.Tensor, start: int, end: int, side: str, after_layer=None) -> torch.Tensor:
        """Decoder layers [start, end) on ``side`` with that side's KV cache; ``after_layer(i, h)`` is
        called after each layer (SPA streams hidden states from there)."""
        import torch

        q = h.shape[1]
        pos = torch.arange(self.past, self.past + q, device=h.device).unsqueeze(0)
        self.rec.begin(side, f"rope+mask L{start}")
        pe = self.core.rotary_emb(h, position_ids=pos)
        mask = self.causal_mask(q, h)
        for i in range(start, end):
            self.rec.begin(side, f"layer {i}")
            h = self.layers[i](
                h,
                attention_mask=mask,
                position_ids=pos,
                past_key_values=self.caches[side],
                use_cache=True,
                position_embeddings=pe,
            )
            if after_layer is not None:
                after_layer(i, h)
        return h

    def causal_mask(self, q: int, h: torch.Tensor) -> torch.Tensor | None:
        """Additive causal mask for q>1 new tokens after ``past`` cached ones (eager attention needs it)."""
        if q == 1:
            return None
        import torch

        k = self.past + q
        full = torch.full((q, k), torch.finfo(h.dtype).min, dtype=h.dtype, device=h.device)
        return torch.triu(full, diagonal=self.past + 1)[None, None]

    def final_norm(self, h: torch.Tensor) -> torch.Tensor:
        return self.core.norm(h[:, -1:, :])

    def lm_head(self, h_last: torch.Tensor) -> torch.Tensor:
        return self.model.lm_head(h_last)[:, -1, :]

    def send_token_down(
        self, logits: torch.Tensor, deps: tuple[int, ...] | None = None, *, streamed: bool
    ) -> int:
        """Cloud-side greedy pick and hand-over of the token id (what a serving API streams back).

        ``streamed``: the next step starts on the cloud (it embeds the token the cloud just picked),
        so nothing waits for this message — the cloud keeps generating while the token travels.
        False where the device needs the token id to start the next step (layer-split).
        """
        import torch

        tok = (
            torch.argmax(logits, dim=-1, keepdim=True)
            if logits.device.type != "meta"
            else torch.empty(1, 1, dtype=torch.long, device="meta")
        )
        _, sid = self.channel.send("down", tok, "token down", ids=True, deps=deps, streamed=streamed)
        return sid

    # ----- driving -----
    def reset(self) -> None:
        for c in self.caches.values():
            c.clear()
        self.past = 0

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """One step, unrecorded (numeric generation / verification)."""
        from splitbench.models.tracing import recording

        with recording(self.rec, record=False):
            out = self.step(ids)
        self.past += ids.shape[1]
        return out

    def record(self, ids: torch.Tensor) -> Recorder:
        """One step, recorded: the recorder's steps describe it afterwards."""
        from splitbench.models.tracing import recording

        with recording(self.rec, record=True, memo=self.memo):
            self.step(ids)
            steps = self.rec.exported_steps()
        self.past += ids.shape[1]
        self.last_steps = steps
        return self.rec

    def fill_cache(self, t: int) -> None:
        """Bring the KV caches to context length t: meta tensors in shape mode (no steps run), a real
        unrecorded prefill of t seeded random tokens in numeric mode."""
        self.reset()
        if t == 0:
            return
        if self.mode == "shape":
            dt = self.torch_dtype
            for side, cache in self.caches.items():
                ids = [i for i in range(self.n_layers()) if self.layer_side(i) == side]
                cache.fill_meta(ids, self.preset.n_kv_heads, self.preset.head_dim, t, dt)
            self.past = t
        else:
            self.forward(self.random_ids(t))

    def random_ids(self, n: int) -> torch.Tensor:
        import torch

        if self.mode == "shape":
            return torch.zeros(1, n, dtype=torch.long, device="meta")
        g = torch.Generator().manual_seed(self.seed + 7 + n)
        return torch.randint(0, self.preset.vocab_size, (1, n), generator=g)
