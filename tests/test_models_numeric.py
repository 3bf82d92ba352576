"""Numeric equivalence of the split paradigms on tiny (fp32), and verify()."""

import torch

from splitbench.models import build_trace
from splitbench.models.build import make_split
from splitbench.models.verify import TOLERANCE, compare, verify


def test_verify_table_all_pass():
    rows = verify("tiny")
    assert len(rows) >= 6
    assert {r.method.split("(")[0] for r in rows} == {
        "device-only",
        "cloud-only",
        "privatelora",
        "spa",
        "lora-split",
        "layer-split",
    }
    for r in rows:
        assert r.passed and r.tokens_match and r.max_abs_dlogit <= TOLERANCE, r


def test_adapters_really_change_the_model():
    """The references are not trivially the base model: adapters and the side network matter."""
    for m in [{"name": "privatelora", "rank": 8}, {"name": "lora-split", "rank": 4}]:
        split = make_split("tiny", m, "numeric", "fp32")
        ref = split.reference_model()
        base = make_split("tiny", "device-only", "numeric", "fp32")
        ids = base.random_ids(5)
        with torch.inference_mode():
            assert float((ref(input_ids=ids).logits - base.model(input_ids=ids).logits).abs().max()) > 1e-3
    spa_open = make_split("tiny", {"name": "spa", "gate": "always"}, "numeric", "fp32")
    spa_closed = make_split("tiny", {"name": "spa", "gate": "never"}, "numeric", "fp32")
    ids = spa_open.random_ids(5)
    assert float((spa_open.forward(ids) - spa_closed.forward(ids)).abs().max()) > 1e-3


def test_lossy_codec_is_felt_and_detected():
    row = compare("tiny", {"name": "privatelora", "rank": 8}, seed=0)
    assert row.passed
    split = make_split("tiny", {"name": "privatelora", "rank": 8}, "numeric", "int8")
    ref = make_split("tiny", {"name": "privatelora", "rank": 8}, "numeric", "fp32")
    ids = split.random_ids(5)
    assert float((split.forward(ids) - ref.forward(ids)).abs().max()) > 1e-5


def test_spa_classifier_gate_rate_measured():
    tr = build_trace("tiny", {"name": "spa", "gate": "classifier"}, 6, mode="numeric")
    (open_, rate), (closed, rest) = tr.variant_weights
    assert (open_, closed) == ("gate_open", "gate_closed") and 0.0 <= rate <= 1.0 and rate + rest == 1.0
    assert "measured" in tr.meta["variant_weights_source"]
    tr = build_trace("tiny", {"name": "spa", "gate": "rate", "gate_rate": 0.3}, 6)
    assert dict(tr.variant_weights)["gate_open"] == 0.3
