"""Hand-built traces for netsim tests (models/ builds the real ones; these only need the shape)."""

from __future__ import annotations

from splitbench.models.trace import Compute, ExecutionTrace, PhaseTrace, Transfer


def privatelora_like(
    n_layers: int = 32,
    d: int = 4096,
    r: int = 128,
    prompt: int = 128,
    bytes_per_value: int = 2,
    layer_weight_bytes: float = 2 * 202e6,
) -> ExecutionTrace:
    """PrivateLoRA's message pattern: embedding up; per layer A·x down and M·A·x up; hidden state down.

    66 messages per decode step for 32 layers, as in the paper's llama2-7b setting.
    """

    def phase(kind: str, tokens: int, ctx: int) -> PhaseTrace:
        steps: list = []
        nid = 0

        def add(step_cls, **kw):
            nonlocal nid
            deps = (nid - 1,) if nid else ()
            steps.append(step_cls(id=nid, deps=deps, **kw))
            nid += 1

        kv_slope = 2 * d * 2 if kind == "decode" else 0.0
        add(
            Compute,
            side="device",
            flops=2 * d * tokens,
            weight_bytes=0,
            activation_bytes=d * 2 * tokens,
            kv_bytes=0,
            kernels=1,
            label="embed",
        )
        add(Transfer, direction="up", payload_bytes=d * bytes_per_value * tokens, label="emb up")
        for i in range(n_layers):
            add(
                Compute,
                side="cloud",
                flops=2 * layer_weight_bytes / 2 * tokens,
                weight_bytes=layer_weight_bytes,
                activation_bytes=d * 2 * tokens,
                kv_bytes=0,
                kernels=12,
                label=f"L{i} cloud",
                kv_bytes_per_ctx=kv_slope,
                flops_per_ctx=4 * d if kind == "decode" else 0.0,
            )
            add(Transfer, direction="down", payload_bytes=3 * r * bytes_per_value * tokens, label=f"L{i} A.x")
            add(
                Compute,
                side="device",
                flops=2 * 3 * r * r * tokens,
                weight_bytes=3 * r * r * 2,
                activation_bytes=6 * r * 2 * tokens,
                kv_bytes=0,
                kernels=3,
                label=f"L{i} M",
            )
            add(Transfer, direction="up", payload_bytes=3 * r * bytes_per_value * tokens, label=f"L{i} M.A.x")
        add(
            Compute,
            side="cloud",
            flops=0,
            weight_bytes=0,
            activation_bytes=d * 2,
            kv_bytes=0,
            kernels=1,
            label="final norm",
        )
        add(Transfer, direction="down", payload_bytes=d * bytes_per_value, label="hidden down")
        add(
            Compute,
            side="device",
            flops=2 * d * 32000,
            weight_bytes=d * 32000 * 2,
            activation_bytes=d * 2,
            kv_bytes=0,
            kernels=2,
            label="lm head",
        )
        return PhaseTrace(phase=kind, tokens=tokens, context=ctx, steps=tuple(steps))

    return ExecutionTrace(
        model="llama2-7b",
        method="privatelora",
        method_params={"r": r},
        act_dtype="fp16",
        prompt_tokens=prompt,
        prefill=phase("prefill", prompt, 0),
        decode={"default": phase("decode", 1, prompt)},
        device_memory_bytes=2 * 32000 * d * 2,
        cloud_memory_bytes=13.5e9,
        data_leaving_device="activations",
        meta={"n_layers": n_layers, "hidden_size": d, "n_params": 6.74e9},
    )
