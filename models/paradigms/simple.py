"""Paradigms without adapters: the whole model on one side, or the decoder cut at a layer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from splitbench import SplitbenchError
from splitbench.models.catalog import ModelPreset
from splitbench.models.paradigms.base import SplitModel
from splitbench.models.paradigms.params import Param, boolean, non_negative_int

if TYPE_CHECKING:
    import torch


def _weight_bits(name: str, v: Any) -> int:
    if v not in (16, 8, 4, 3) or isinstance(v, bool):
        raise SplitbenchError(f"method.{name}: {v!r} must be one of 16, 8, 4, 3")
    return v


class DeviceOnly(SplitModel):
    """Everything on the device; ``weight_bits`` changes stored bytes, not the numeric path."""

    name = "device-only"
    label = "device-only"
    description = "the whole model on the device (weight_bits 16/8/4/3); nothing crosses the network"
    color = "#4d4d4d"  # dark grey
    order = 1
    params = (Param("weight_bits", 16, _weight_bits, "bits per stored weight (16, 8, 4, 3)"),)
    label_params = (("weight_bits", "w{}bit"),)
    data_leaving_device = "nothing"
    whole_model_side = "device"

    def privacy_forms(self) -> tuple[str, str, str]:
        return "nothing", "nothing", "device"

    def weight_bits(self) -> dict[str, int]:
        return {"device": int(self.params["weight_bits"]), "cloud": 16}

    def trace_meta(self) -> dict[str, Any]:
        return {"weight_bits": self.params["weight_bits"]}

    def layer_side(self, i: int) -> str:
        return "device"

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        self.rec.begin("device", "embed")
        h = self.run_layers(self.embed(ids), 0, self.n_layers(), "device")
        self.rec.begin("device", "norm+lm_head")
        return self.lm_head(self.final_norm(h))


class CloudOnly(SplitModel):
    """Prompt ids up once, the whole model on the cloud, each token id down. Decode steps need nothing
    from the device: the cloud picked the token it is now embedding."""

    name = "cloud-only"
    label = "cloud-only"
    description = "token ids up, the whole model on the cloud, token ids down"
    color = "#1f77b4"  # blue
    order = 2
    data_leaving_device = "tokens"
    whole_model_side = "cloud"

    def privacy_forms(self) -> tuple[str, str, str]:
        # prompt ids up, token ids down; a personalised model can only be served if the cloud holds it
        return "token ids", "token ids", "cloud"

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        if self.past == 0:
            ids, _ = self.channel.send("up", ids, "prompt ids up", ids=True)
        self.rec.begin("cloud", "embed")
        h = self.run_layers(self.embed(ids), 0, self.n_layers(), "cloud")
        self.rec.begin("cloud", "norm+lm_head")
        logits = self.lm_head(self.final_norm(h))
        self.send_token_down(logits, streamed=True)  # the next step starts on the cloud
        return logits


class LayerSplit(SplitModel):
    """Embedding and the first ``device_layers`` layers on the device; the hidden states of the new
    positions go up; the rest (and the LM head unless ``head_on_device``) on the cloud."""

    name = "layer-split"
    label = "layer-split"
    description = "embedding + first device_layers decoder layers on the device, the rest on the cloud"
    color = "#9467bd"  # purple
    order = 6
    params = (
        Param("device_layers", 4, non_negative_int, "decoder layers on the device"),
        Param("head_on_device", False, boolean, "final hidden state down, LM head on the device"),
    )
    label_params = (("device_layers", "k={}"),)
    data_leaving_device = "activations"

    @classmethod
    def check_model(cls, p: dict[str, Any], preset: ModelPreset) -> None:
        if p["device_layers"] > preset.n_layers:
            raise SplitbenchError(
                f"method.device_layers: {p['device_layers']} exceeds the model's {preset.n_layers} layers"
            )

    @classmethod
    def verify_cases(cls, preset: ModelPreset) -> list[dict[str, Any]]:
        n = preset.n_layers
        return [
            {"name": cls.name, "device_layers": min(2, n)},
            {"name": cls.name, "device_layers": min(1, n), "head_on_device": True},
        ]

    def privacy_forms(self) -> tuple[str, str, str]:
        # k = 0 uploads the embedding rows themselves; the cloud runs the last layer and final norm,
        # so it holds the final hidden state (head on device) or picks the token
        prompt = "hidden states" if self.k else "embedding rows"
        output = "final hidden state" if self.params["head_on_device"] else "token ids"
        return prompt, output, "device" if self.k else "cloud"

    @property
    def k(self) -> int:
        return int(self.params["device_layers"])

    def layer_side(self, i: int) -> str:
        return "device" if i < self.k else "cloud"

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        self.rec.begin("device", "embed")
        h = self.run_layers(self.embed(ids), 0, self.k, "device") if self.k else self.embed(ids)
        h, _ = self.channel.send("up", h, f"hidden after layer {self.k - 1} up")
        h = self.run_layers(h, self.k, self.n_layers(), "cloud")
        self.rec.begin("cloud", "final norm")
        h_last = self.final_norm(h)
        if self.params["head_on_device"]:
            h_last, _ = self.channel.send("down", h_last, "final hidden down")
            self.rec.begin("device", "lm_head")
            return self.lm_head(h_last)
        self.rec.begin("cloud", "lm_head")
        logits = self.lm_head(h_last)
        self.send_token_down(logits, streamed=False)  # the device embeds it: the next step waits
        return logits
