"""Shape-mode traces: payload bytes against closed forms, FLOPs, GQA, linearity, serialisation."""

import math

import pytest

from splitbench.models import MODEL_PRESETS, ExecutionTrace, build_trace
from splitbench.models.codec import header_bytes
from splitbench.models.trace import Compute, PhaseTrace, Transfer


def msg(values: int, value_bytes: int = 2, ndim: int = 3) -> int:
    return values * value_bytes + header_bytes(ndim)


TOKEN = msg(1, 4, 2)


def transfers(phase, direction):
    return [s for s in phase.steps if s.kind == "transfer" and s.direction == direction]


def test_privatelora_llama2_7b_decode_closed_form():
    tr = build_trace("llama2-7b", {"name": "privatelora", "rank": 128}, 64)
    d = tr.decode["default"]
    L, dm = 32, 4096
    assert d.up_bytes() == L * msg(3 * 128) + msg(dm)
    assert d.down_bytes() == L * msg(3 * 128) + msg(dm)
    assert d.round_trips() == L + 1
    assert tr.data_leaving_device == "activations"
    # prefill: embeddings of all P tokens up, per-layer messages for P tokens
    assert tr.prefill.up_bytes() == L * msg(3 * 128 * 64) + msg(dm * 64)


def test_privatelora_asymmetric_ranks_and_targets():
    tr = build_trace("tiny", {"name": "privatelora", "rank_c2d": 6, "rank_d2c": 4, "targets": "all"}, 8)
    d = tr.decode["default"]
    # groups per layer: qkv, o, gate_up, down -> members 3,1,2,1
    per_layer_down = msg(18) + msg(6) + msg(12) + msg(6)
    per_layer_up = msg(12) + msg(4) + msg(8) + msg(4)
    assert d.down_bytes() == 4 * per_layer_down + msg(64)
    assert d.up_bytes() == 4 * per_layer_up + msg(64)


def test_lora_split_qkv_closed_form_and_gqa():
    tr = build_trace("llama2-7b", "lora-split", 16)
    d = tr.decode["default"]
    assert d.down_bytes() == 32 * msg(4096) + TOKEN
    assert d.up_bytes() == 32 * msg(3 * 4096)
    assert tr.data_leaving_device == "tokens"
    p = MODEL_PRESETS["llama3.1-8b"]
    kv = p.n_kv_heads * p.head_dim
    tr = build_trace("llama3.1-8b", {"name": "lora-split", "layers": "lora-s"}, 16)
    d = tr.decode["default"]
    assert d.up_bytes() == 2 * msg(4096 + 2 * kv) and kv == 1024


def test_lora_p_mlp_widths():
    tr = build_trace("tiny", {"name": "lora-split", "targets": "all", "head_on_device": True}, 4)
    d = tr.decode["default"]
    ffn, dm, kv = 176, 64, 32
    assert d.down_bytes() == 4 * (msg(dm) + msg(dm) + msg(dm) + msg(ffn)) + msg(dm)
    assert d.up_bytes() == 4 * (msg(dm + 2 * kv) + msg(dm) + msg(2 * ffn) + msg(dm)) + msg(dm)


@pytest.mark.parametrize("down_proj,width", [("device", 4096), ("cloud", 32)])
def test_spa_gate_open_closed_form(down_proj, width):
    tr = build_trace("llama2-7b", {"name": "spa", "down_proj": down_proj}, 16)
    o, c = tr.decode["gate_open"], tr.decode["gate_closed"]
    assert o.down_bytes() == 33 * msg(width) + TOKEN
    assert o.up_bytes() == msg(4096)
    assert c.down_bytes() == TOKEN and c.up_bytes() == 0
    assert tr.variant_weights == (("gate_open", 1.0), ("gate_closed", 0.0))
    assert tr.data_leaving_device == "tokens"
    # The token down is streamed (the next step starts with the cloud's embedding), so no step waits
    # on it: gate open = hidden states down + side output up = 1 round trip; gate closed = 0 (it
    # was 2 and 1 while the trace chained every step after the token's arrival on the device).
    assert o.round_trips() == 1 and c.round_trips() == 0
    # overlap: some hidden-state transfer does not wait for the next cloud layer, and the next
    # cloud layer does not wait for it
    steps = {s.id: s for s in o.steps}
    l5 = next(s for s in o.steps if s.label == "L5 hidden down")
    nxt = next(s for s in o.steps if s.kind == "compute" and s.label == "cloud: layer 6")
    assert l5.id not in nxt.deps and steps[l5.deps[0]].side == "cloud"


def test_cloud_only_device_only_layer_split():
    co = build_trace("llama2-7b", "cloud-only", 100)
    assert co.prefill.up_bytes() == msg(100, 4, 2) and co.decode["default"].up_bytes() == 0
    assert co.decode["default"].down_bytes() == TOKEN and co.data_leaving_device == "tokens"
    do = build_trace("llama2-7b", {"name": "device-only", "weight_bits": 4}, 100)
    assert do.decode["default"].up_bytes() == 0 and do.meta["weight_bits"] == 4
    n = MODEL_PRESETS["llama2-7b"].n_params
    # 4 bits + fp16 scale+min per 32 weights = 5 bits/weight on linear/embedding weights
    assert 5 / 8 * n * 0.99 < do.device_memory_bytes < 5 / 8 * n * 1.01
    ls = build_trace("llama2-7b", {"name": "layer-split", "device_layers": 8}, 10)
    assert ls.decode["default"].up_bytes() == msg(4096) and ls.prefill.up_bytes() == msg(4096 * 10)
    assert ls.meta["kv_bytes_per_token"]["device"] == 8 * 2 * 4096 * 2


def test_flops_per_decode_token_llama2_7b():
    tr = build_trace("llama2-7b", "device-only", 32)
    p = MODEL_PRESETS["llama2-7b"]
    non_emb = p.n_params - p.vocab_size * p.hidden_size
    t = 1000
    attn = p.n_layers * 2 * 2 * p.hidden_size * (t + 1)  # QK^T and AV over t+1 positions
    flops = sum(s.flops_at(t) for s in tr.decode["default"].steps if s.kind == "compute")
    assert abs(flops / (2 * non_emb + attn) - 1) < 0.02


def test_matmul_and_elementwise_bytes_closed_form():
    """activation_bytes holds exactly the matmul outputs (a closed form per decode step); the other
    ops' traffic is in elementwise_bytes, at least what residual adds, SiLU and the gate product move."""
    p = MODEL_PRESETS["tiny"]
    d, kvd, ff, h, L, nb = p.hidden_size, p.n_kv_heads * p.head_dim, p.config["intermediate_size"], \
        p.n_heads, p.n_layers, 4
    tr = build_trace("tiny", "device-only", 16, compute_dtype="fp32", kv_dtype="fp32")
    (dec,) = [s for s in tr.decode["default"].steps if s.kind == "compute"]
    # q, k, v, o, gate, up, down, attention output (h x head_dim = d) and scores h x (t + 1); LM head
    per_layer = d + 2 * kvd + d + 2 * ff + d + d + h
    assert dec.activation_bytes == nb * (L * per_layer + p.vocab_size)
    assert dec.activation_bytes_per_ctx == nb * L * h
    P = 16
    (pre,) = [s for s in tr.prefill.steps if s.kind == "compute"]
    assert pre.elementwise_bytes >= nb * L * P * (2 * 3 * d + 2 * ff + 3 * ff)
    assert dec.elementwise_bytes_per_ctx > 0  # softmax over the context
    # attention's two activation products: 2 * 2 * h * head_dim per position per layer
    assert dec.attention_flops_per_ctx == dec.flops_per_ctx == L * 2 * 2 * h * p.head_dim
    assert pre.attention_flops == L * 2 * 2 * P * P * h * p.head_dim


@pytest.mark.parametrize("name", ["llama3.1-8b", "mistral-7b", "qwen2.5-7b"])
def test_gqa_kv_sizes(name):
    p = MODEL_PRESETS[name]
    tr = build_trace(name, "cloud-only", 8)
    kv_slope = sum(s.kv_bytes_per_ctx for s in tr.decode["default"].steps if s.kind == "compute")
    assert kv_slope == p.n_layers * 2 * p.n_kv_heads * p.head_dim * 2
    assert p.n_kv_heads < p.n_heads


def test_decode_linear_in_context_at_third_point():
    tr = build_trace("tiny", "privatelora", 8, mode="shape")
    from splitbench.models.build import make_split

    split = make_split("tiny", "privatelora", "shape")
    split.fill_cache(300)
    split.record(split.random_ids(1))
    far = [s for s in split.last_steps if s["kind"] == "compute"]
    lin = [s for s in tr.decode["default"].steps if s.kind == "compute"]
    for a, b in zip(far, lin, strict=True):
        assert a["flops"] == pytest.approx(b.flops_at(300))
        assert a["kv_bytes"] == pytest.approx(b.kv_bytes_at(300))
        assert a["elementwise_bytes"] == pytest.approx(b.elementwise_bytes_at(300))
        assert a["activation_bytes"] == pytest.approx(b.activation_bytes_at(300))


def test_numeric_and_shape_traces_agree():
    """Same code path: identical structure, payloads, FLOPs, weight and KV bytes. Kernel counts and
    activation bytes may differ slightly (CPU and meta dispatch composite ops differently)."""
    for m in ["privatelora", "lora-split", "spa", "layer-split"]:
        s = build_trace("tiny", m, 6, mode="shape")
        n = build_trace("tiny", m, 6, mode="numeric")
        for ps, pn in [(s.prefill, n.prefill)] + [(s.decode[k], n.decode[k]) for k in s.decode]:
            for a, b in zip(ps.steps, pn.steps, strict=True):
                assert (a.kind, a.label, a.deps) == (b.kind, b.label, b.deps), m
                if a.kind == "transfer":
                    assert a.payload_bytes == b.payload_bytes
                else:
                    assert (a.flops, a.weight_bytes, a.kv_bytes, a.flops_per_ctx) == (
                        b.flops,
                        b.weight_bytes,
                        b.kv_bytes,
                        b.flops_per_ctx,
                    ), (m, a.label)
                    assert abs(a.kernels - b.kernels) <= 0.3 * max(a.kernels, 1)
        assert s.device_memory_bytes == n.device_memory_bytes and s.cloud_memory_bytes == n.cloud_memory_bytes


def test_serialisation_round_trip():
    tr = build_trace("tiny", "spa", 5)
    again = ExecutionTrace.from_json(tr.to_json())
    assert again == tr and again.to_json() == tr.to_json()


def test_round_trips_definition():
    c = lambda i, deps=(): Compute(i, "cloud", 1, 0, 0, 0, 1, "c", deps)  # noqa: E731
    t = lambda i, d, deps=(): Transfer(i, d, 10, "t", deps)  # noqa: E731
    ph = PhaseTrace(
        "decode", 1, 0, (t(0, "up"), c(1, (0,)), t(2, "down", (1,)), t(3, "up", (2,)), t(4, "down", (3,)))
    )
    assert ph.round_trips() == 2
    assert PhaseTrace("decode", 1, 0, (c(0),)).round_trips() == 0
    assert PhaseTrace("decode", 1, 0, (c(0), t(1, "down", (0,)))).round_trips() == 1
    # two parallel downs are one crossing
    assert PhaseTrace("decode", 1, 0, (t(0, "down"), t(1, "down"), t(2, "up", (0, 1)))).round_trips() == 1
    # a streamed token is not waited on: it is no crossing
    tok = lambda i, deps: Transfer(i, "down", 10, "token down", deps, streamed=True)  # noqa: E731
    assert PhaseTrace("decode", 1, 0, (c(0), tok(1, (0,)))).round_trips() == 0
    assert PhaseTrace("decode", 1, 0, (*ph.steps, c(5, (4,)), tok(6, (5,)))).round_trips() == 2
    assert math.isclose(ph.up_bytes(), 20)


def _streamed(phase) -> list[str]:
    return [s.label for s in phase.steps if s.kind == "transfer" and s.streamed]


@pytest.mark.parametrize(
    "method,decode_rts,streams",
    [
        # the next step starts on the cloud: the token is streamed, nothing waits for it
        ("cloud-only", {"default": 0}, True),
        ("spa", {"gate_open": 1, "gate_closed": 0}, True),
        ({"name": "lora-split", "layers": [0, 2], "head_on_device": False}, {"default": 2}, True),
        # the next step starts on the device: every down message is waited on
        ("device-only", {"default": 0}, False),
        ({"name": "privatelora", "layers": [1]}, {"default": 2}, False),  # emb up, (down, up), hidden down
        ({"name": "layer-split", "device_layers": 2}, {"default": 1}, False),  # hidden up, token down
        ({"name": "lora-split", "layers": [0, 2], "head_on_device": True}, {"default": 3}, False),
    ],
)
def test_streamed_token_and_round_trips_per_paradigm(method, decode_rts, streams):
    tr = build_trace("tiny", method, 4)
    assert {k: v.round_trips() for k, v in tr.decode.items()} == decode_rts
    for ph in [tr.prefill, *tr.decode.values()]:
        assert _streamed(ph) == (["token down"] if streams else [])
        # nothing in the phase waits for a streamed transfer
        ids = {s.id for s in ph.steps if s.kind == "transfer" and s.streamed}
        assert not any(ids & set(s.deps) for s in ph.steps)
    # the flag survives serialisation, and a trace written before it existed still loads
    assert ExecutionTrace.from_json(tr.to_json()) == tr
    old = tr.to_dict()
    for ph in [old["prefill"], *old["decode"].values()]:
        for st in ph["steps"]:
            st.pop("streamed", None)
    assert _streamed(ExecutionTrace.from_dict(old).prefill) == []


def test_whole_model_reference_independent_of_the_cloud_only_trace_it_comes_from():
    """A split's whole-model totals come from the cloud-only trace at its cloud runtime: taken from a
    cloud-only trace built earlier with another device runtime, the trace is the same as with the
    reference built afresh."""
    from splitbench.models import build

    rt = {"compute_dtype": "fp16", "kv_dtype": "fp16", "kv_cache": {"device": "static", "cloud": "dynamic"}}
    other_device = {
        "compute_dtype": {"device": "fp32", "cloud": "fp16"},
        "kv_dtype": {"device": "bf16", "cloud": "fp16"},
        "kv_cache": {"device": "paged", "cloud": "dynamic"},
    }
    build._CLOUD_ONLY.clear()
    fresh = build_trace("tiny", "privatelora", 16, **rt)
    build._CLOUD_ONLY.clear()
    cloud_only = build_trace("tiny", "cloud-only", 16, **other_device)
    borrowed = build_trace("tiny", "privatelora", 16, **rt)
    assert borrowed.meta["whole_decode"] == cloud_only.meta["whole_decode"]
    assert borrowed.to_json() == fresh.to_json()


def test_lent_cloud_only_trace_gives_the_same_trace_without_building_it_again(monkeypatch):
    """A cloud-only trace lent as JSON (built in another process, at another device runtime and wire
    dtype) gives a borrowing split exactly the trace it gets from the cloud-only trace built afresh,
    and nothing is built to get it; whole_decode_role pairs the two by one key."""
    from splitbench import SplitbenchError
    from splitbench.models import build

    rt = {"compute_dtype": "fp16", "kv_dtype": "fp16", "kv_cache": {"device": "static", "cloud": "dynamic"}}
    other_device = {"compute_dtype": {"device": "fp32", "cloud": "fp16"}, "kv_dtype": "fp16",
                    "kv_cache": {"device": "paged", "cloud": "dynamic"}}
    build._CLOUD_ONLY.clear()
    fresh = build_trace("tiny", "privatelora", 16, **rt)
    lender = ExecutionTrace.from_json(build_trace("tiny", "cloud-only", 16, "fp32", **other_device).to_json())
    build._CLOUD_ONLY.clear()

    def no_rebuild(*args):
        raise AssertionError("the cloud-only trace was built again")

    monkeypatch.setattr(build, "_build_cloud_only", no_rebuild)
    build.lend_whole_decode("tiny", lender)
    assert build_trace("tiny", "privatelora", 16, **rt).to_json() == fresh.to_json()

    roles = {m: build.whole_decode_role("tiny", m, 16, **rt)
             for m in ("cloud-only", "privatelora", "device-only")}
    assert [r for r, _ in roles.values()] == ["lends", "borrows", None]
    other = build.whole_decode_role("tiny", "cloud-only", 16, **other_device)
    assert roles["cloud-only"][1] == roles["privatelora"][1] == other[1]
    assert build.whole_decode_role("tiny", "privatelora", 16)[1] != roles["privatelora"][1]  # cloud KV cache
    assert build.whole_decode_role("tiny", "privatelora", 32, **rt)[1] != roles["privatelora"][1]
    with pytest.raises(SplitbenchError, match="only cloud-only"):
        build.lend_whole_decode("tiny", fresh)
