"""Privacy columns: per paradigm, and the two 'exact' forms checked on real tensors."""

import pytest
import torch

from splitbench.models import build_trace
from splitbench.models.build import make_split
from splitbench.models.privacy import PRIVACY_COLUMNS

# (method, (prompt, output, private weights leave the device))
EXPECTED = [
    ("device-only", ("no", "no", "no")),
    ("cloud-only", ("exact", "exact", "yes")),
    ("privatelora", ("exact", "exact", "no")),
    ("spa", ("exact", "exact", "no")),
    ("lora-split", ("exact", "exact", "no")),
    ({"name": "lora-split", "head_on_device": True}, ("exact", "exact", "no")),
    ("layer-split", ("by-inversion", "exact", "no")),
    ({"name": "layer-split", "device_layers": 0}, ("exact", "exact", "yes")),
]


@pytest.mark.parametrize(("method", "expected"), EXPECTED, ids=[str(m) for m, _ in EXPECTED])
def test_privacy_columns_per_paradigm(method, expected) -> None:
    tr = build_trace("tiny", method, 4)
    assert tuple(tr.privacy[c] for c in PRIVACY_COLUMNS) == expected
    ups = [s for s in tr.prefill.steps if s.kind == "transfer" and s.direction == "up"]
    decode = next(iter(tr.decode.values()))
    downs = [s for s in decode.steps if s.kind == "transfer" and s.direction == "down"]
    # 'no' exactly where nothing crosses the link in that direction
    assert (tr.privacy["prompt_recoverable_by_cloud"] == "no") == (not ups)
    assert (tr.privacy["output_recoverable_by_cloud"] == "no") == (not downs)
    assert tr.data_leaving_device == ("nothing" if not ups else tr.data_leaving_device)


def _captured(method: dict, ids: torch.Tensor):
    """Run one numeric prefill, keeping every tensor the receiving side got from the channel."""
    split = make_split("tiny", method, mode="numeric", act_dtype="fp16", seed=0)
    sent: list[tuple[str, str, torch.Tensor]] = []
    orig = split.channel.send

    def send(direction, x, label, **kw):
        y, sid = orig(direction, x, label, **kw)
        sent.append((direction, label, y))
        return y, sid

    split.channel.send = send
    logits = split.forward(ids)
    return split, sent, logits


def test_privatelora_uploads_invertible_embeddings_and_downloads_the_output() -> None:
    """'exact' for PrivateLoRA: the fp16 embedding rows it uploads map back to the prompt ids by a
    nearest-row lookup in the public table, and the final hidden state it downloads gives the
    cloud the same next token through the public LM head."""
    ids = torch.randint(0, 256, (1, 12), generator=torch.Generator().manual_seed(3))
    split, sent, logits = _captured({"name": "privatelora", "rank": 8}, ids)
    emb = next(y for d, lab, y in sent if d == "up" and lab == "embedding up")
    table = split.core.embed_tokens.weight
    recovered = torch.cdist(emb[0].float(), table.float()).argmin(dim=-1)
    assert torch.equal(recovered, ids[0])
    h = next(y for d, lab, y in sent if d == "down" and lab == "final hidden down")
    cloud_logits = split.model.lm_head(h.float())[:, -1, :]
    assert torch.argmax(cloud_logits, -1).item() == torch.argmax(logits, -1).item()
