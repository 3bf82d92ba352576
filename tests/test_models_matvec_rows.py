"""Compute.matvec_rows (what netsim charges a per-row GEMV cost for) against a hand count."""

from __future__ import annotations

import pytest

from splitbench.models import build_trace, resolve_model


@pytest.mark.parametrize("prompt", [16])
def test_decode_and_prefill_matvec_rows_match_hand_count(prompt: int) -> None:
    p = resolve_model("tiny")
    c = p.config
    d, inter, vocab = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    layers = c["num_hidden_layers"]
    heads = c["num_attention_heads"]
    kv_heads = c.get("num_key_value_heads", heads)
    hd = c.get("head_dim", d // heads)
    tr = build_trace(p, "device-only", prompt, act_dtype="fp32")
    dec = [s for s in tr.decode["default"].steps if s.kind == "compute"]
    # per layer: q, k, v, o, gate, up, down projections, plus attention: scores (heads x (t + 1)
    # cached positions after the append) and probabilities @ V (heads x head_dim)
    proj = heads * hd + 2 * kv_heads * hd + d + 2 * inter + d
    assert sum(s.matvec_rows for s in dec) == layers * (proj + heads + heads * hd) + vocab
    assert sum(s.matvec_rows_per_ctx for s in dec) == layers * heads
    # prefill: every projection is a GEMM (m = prompt); only the last position's LM head is a GEMV
    pre = [s for s in tr.prefill.steps if s.kind == "compute"]
    assert sum(s.matvec_rows for s in pre) == vocab
