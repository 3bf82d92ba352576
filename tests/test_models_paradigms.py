"""A paradigm is one class: the registry, its declarations, and a new paradigm needing nothing else."""

from __future__ import annotations

import pytest
import torch

from splitbench import SplitbenchError
from splitbench.harness.listing import list_methods
from splitbench.models import build_trace, resolve_method
from splitbench.models import paradigms as registry
from splitbench.models.catalog import resolve_model
from splitbench.models.codec import CODECS
from splitbench.models.methods import comparable_lora_split, method_label
from splitbench.models.paradigms.base import SplitModel
from splitbench.models.paradigms.params import PROJECTIONS, Param, positive_int
from splitbench.models.verify import compare
from splitbench.reports.metrics import display_name, paradigm_color, paradigm_rank


class EmbedSplit(SplitModel):
    """The README's example: the embedding on the device, its rows up, the rest on the cloud."""

    name = "embed-split"
    label = "embedding on the device"
    description = "embedding on the device, embedding rows up, the decoder on the cloud"
    color = "#17becf"
    order = 7
    params = (Param("chunk", 1, positive_int, "an illustrative parameter"),)
    label_params = (("chunk", "c={}"),)
    data_leaving_device = "activations"

    def privacy_forms(self) -> tuple[str, str, str]:
        return "embedding rows", "token ids", "cloud"

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        self.rec.begin("device", "embed")
        h, _ = self.channel.send("up", self.embed(ids), "embedding up")
        h = self.run_layers(h, 0, self.n_layers(), "cloud")
        self.rec.begin("cloud", "norm+lm_head")
        logits = self.lm_head(self.final_norm(h))
        self.send_token_down(logits, streamed=False)  # the device embeds it next
        return logits


@pytest.fixture
def embed_split(monkeypatch: pytest.MonkeyPatch) -> type[SplitModel]:
    monkeypatch.setitem(registry._REGISTERED, EmbedSplit.name, EmbedSplit)
    return EmbedSplit


def test_registry_finds_the_built_in_paradigms_in_display_order() -> None:
    found = registry.paradigms()
    assert list(found) == ["device-only", "cloud-only", "privatelora", "spa", "lora-split", "layer-split"]
    for name, cls in found.items():
        assert cls.name == name and cls.label and cls.description and cls.color.startswith("#")
        assert cls.data_leaving_device in ("nothing", "activations", "tokens")
        for p in cls.params:  # every default passes its own check unchanged
            assert p.check(p.name, p.default) == p.default
    with pytest.raises(SplitbenchError, match="unknown method 'nope'"):
        registry.get("nope")


def test_a_new_paradigm_is_one_class(embed_split: type[SplitModel]) -> None:
    m = resolve_method({"name": "embed-split", "chunk": 2})
    assert m == {"name": "embed-split", "chunk": 2} and method_label(m) == "embed-split c=2"
    with pytest.raises(SplitbenchError, match="method.chunk: must be a positive integer"):
        resolve_method({"name": "embed-split", "chunk": 0})
    assert comparable_lora_split(m) is None
    tr = build_trace("tiny", m, 8)
    assert tr.method == "embed-split" and tr.data_leaving_device == "activations"
    assert tr.decode["default"].round_trips() == 1 and tr.variant_weights == (("default", 1.0),)
    assert tr.privacy["prompt_recoverable_by_cloud"] == "exact"
    d = resolve_model("tiny").hidden_size
    step = tr.decode["default"]
    assert step.up_bytes() == CODECS["fp16"].encoded_size((1, 1, d))  # one embedding row up
    assert step.down_bytes() == CODECS["ids"].encoded_size((1, 1))  # one token id down
    cloud = sum(s.flops for s in step.steps if s.kind == "compute" and s.side == "cloud")
    device = sum(s.flops for s in step.steps if s.kind == "compute" and s.side == "device")
    assert cloud > 100 * device
    row = compare("tiny", m)  # numerically the unsplit model
    assert row.passed, row
    assert "embed-split" in list_methods() and "chunk=1" in list_methods()
    assert paradigm_color("embed-split") == "#17becf" and paradigm_rank("embed-split") == 6
    assert display_name("embed-split", "embed-split c=2") == "embedding on the device c=2"


def test_a_paradigm_name_is_taken_once(embed_split: type[SplitModel]) -> None:
    class Again(EmbedSplit):
        name = "privatelora"

    with pytest.raises(SplitbenchError, match="already defined"):
        registry.register(Again)


def test_params_declare_one_home_for_projections_and_layers() -> None:
    m = resolve_method({"name": "lora-split", "targets": ["v", "q"], "layers": [3, 1, 3]})
    assert m["targets"] == ["q_proj", "v_proj"] and m["layers"] == [1, 3]
    assert resolve_method({"name": "privatelora", "targets": "all"})["targets"] == list(PROJECTIONS)
    for bad, msg in [
        ({"name": "privatelora", "layers": [-1]}, "method.layers"),
        ({"name": "privatelora", "targets": ["w"]}, "unknown projection 'w'"),
        ({"name": "spa", "gate_rate": 2}, "method.gate_rate: 2 must be in"),
        ({"name": "layer-split", "head_on_device": "yes"}, "must be true or false"),
        ({"name": "device-only", "weight_bits": 5}, "must be one of 16, 8, 4, 3"),
    ]:
        with pytest.raises(SplitbenchError, match=msg):
            resolve_method(bad)
    with pytest.raises(SplitbenchError, match="exceeds the model's 4 layers"):
        build_trace("tiny", {"name": "layer-split", "device_layers": 5}, 8)
    with pytest.raises(SplitbenchError, match="layer indices < 4"):
        build_trace("tiny", {"name": "lora-split", "layers": [4]}, 8)


def test_declarations_and_suite_resolution_do_not_load_torch() -> None:
    """Resolving a suite's methods, labelling them and loading the report code leave torch unloaded
    (it costs seconds of a run's start); building a split model loads it."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from splitbench.harness.resolve import resolve_suite\n"
        "from splitbench.harness.suite import load_suite\n"
        "from splitbench.models.methods import comparable_lora_split, method_label\n"
        "import splitbench.reports.build\n"
        "scenarios, points = resolve_suite(load_suite('quick'), calibrate=False)\n"
        "labels = {method_label(s.method) for s in scenarios}\n"
        "labels |= {str(comparable_lora_split(s.method)) for s in scenarios}\n"
        "assert len(scenarios) == 18 and len(labels) > 6, (len(scenarios), labels)\n"
        "print('torch' in sys.modules)\n"
        "from splitbench.models import make_split\n"
        "make_split('tiny', 'spa')\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]
