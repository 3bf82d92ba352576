"""Wire codecs: how a tensor becomes bytes on the link, and how many bytes that is.

One codec object serves both execution modes. In numeric mode ``encode`` produces the real bytes
and ``decode`` restores a tensor (the receiver computes with what actually arrived, so lossy codecs
show up in the numbers). In shape mode the tensor lives on the ``meta`` device and has no data;
``encoded_size`` computes the same length from shape and dtype alone. Tests check that
``len(encode(x)) == encoded_size(x.shape)`` for every codec.

Framing (every message, counted in payload bytes)
-------------------------------------------------
A fixed header of ``8 + 4 * ndim`` bytes, little-endian:
``u32 body_length | u8 codec_id | u8 ndim | u16 reserved (0) | u32 dim_0 ... u32 dim_{ndim-1}``,
followed by the body. That is the least a receiver needs to rebuild the tensor; TCP/IP headers are
netsim's business, not part of the payload.

Bodies
------
- ``fp32`` / ``fp16`` / ``bf16``: the values, row-major, 4 / 2 / 2 bytes each.
- ``int8``: per-row symmetric quantisation. A row is the last dimension; each row carries one fp16
  scale (max|x| / 127) followed by its int8 values, so ``rows * (2 + cols)`` bytes.
- ``ids`` (token ids): int32 values, 4 bytes each, whatever the activation codec.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from splitbench import SplitbenchError

if TYPE_CHECKING:
    import torch

HEADER_FIXED_BYTES = 8
HEADER_BYTES_PER_DIM = 4


def header_bytes(ndim: int) -> int:
    """Bytes of framing for a tensor of ``ndim`` dimensions."""
    return HEADER_FIXED_BYTES + HEADER_BYTES_PER_DIM * ndim


@dataclass(frozen=True)
class Codec:
    name: str
    codec_id: int
    value_bytes: int  # bytes per value in the body
    row_overhead: int = 0  # bytes per row (int8 scale)

    # ----- sizes (shape mode and numeric mode alike) -----
    def body_size(self, shape: tuple[int, ...]) -> int:
        n = math.prod(shape)
        rows = math.prod(shape[:-1]) if len(shape) else 1
        return n * self.value_bytes + (rows * self.row_overhead if n else 0)

    def encoded_size(self, shape: tuple[int, ...] | torch.Size) -> int:
        shape = tuple(int(s) for s in shape)
        return header_bytes(len(shape)) + self.body_size(shape)

    # ----- real bytes (numeric mode) -----
    def encode(self, x: torch.Tensor) -> bytes:
        if x.device.type == "meta":
            raise SplitbenchError("codec: a meta tensor has no data to encode (use encoded_size)")
        shape = tuple(x.shape)
        body = self._encode_body(x.detach().cpu().contiguous())
        head = struct.pack("<IBBH", len(body), self.codec_id, len(shape), 0)
        head += struct.pack(f"<{len(shape)}I", *shape)
        return head + body

    def decode(self, data: bytes, dtype: torch.dtype | None = None) -> torch.Tensor:
        import torch

        dtype = torch.float32 if dtype is None else dtype
        length, codec_id, ndim, _ = struct.unpack_from("<IBBH", data, 0)
        if codec_id != self.codec_id:
            raise SplitbenchError(f"codec: message was encoded with codec id {codec_id}, not {self.name}")
        shape = struct.unpack_from(f"<{ndim}I", data, HEADER_FIXED_BYTES)
        body = data[header_bytes(ndim) : header_bytes(ndim) + length]
        return self._decode_body(body, shape).to(dtype)

    def _encode_body(self, x: torch.Tensor) -> bytes:
        import torch

        if self.name == "fp32":
            return x.to(torch.float32).numpy().tobytes()
        if self.name == "fp16":
            return x.to(torch.float16).numpy().tobytes()
        if self.name == "bf16":
            return x.to(torch.bfloat16).view(torch.int16).numpy().tobytes()
        if self.name == "ids":
            return x.to(torch.int32).numpy().tobytes()
        if self.name == "int8":
            rows = x.to(torch.float32).reshape(-1, x.shape[-1] if x.dim() else 1)
            scale = (rows.abs().amax(dim=1, keepdim=True) / 127.0).to(torch.float16)
            safe = torch.where(scale.float() > 0, scale.float(), torch.ones_like(scale, dtype=torch.float32))
            q = torch.clamp(torch.round(rows / safe), -127, 127).to(torch.int8)
            rec = np.concatenate([scale.numpy().view(np.uint8), q.numpy().view(np.uint8)], axis=1)
            return rec.tobytes()
        raise SplitbenchError(f"codec: unknown codec {self.name!r}")

    def _decode_body(self, body: bytes, shape: tuple[int, ...]) -> torch.Tensor:
        import torch

        if self.name == "fp32":
            arr = np.frombuffer(body, dtype=np.float32)
            return torch.from_numpy(arr.copy()).reshape(shape)
        if self.name == "fp16":
            return torch.from_numpy(np.frombuffer(body, dtype=np.float16).copy()).reshape(shape)
        if self.name == "bf16":
            raw = torch.from_numpy(np.frombuffer(body, dtype=np.int16).copy())
            return raw.view(torch.bfloat16).reshape(shape)
        if self.name == "ids":
            return torch.from_numpy(np.frombuffer(body, dtype=np.int32).copy()).reshape(shape).to(torch.long)
        if self.name == "int8":
            cols = shape[-1] if shape else 1
            rec = np.frombuffer(body, dtype=np.uint8).reshape(-1, 2 + cols)
            scale = torch.from_numpy(rec[:, :2].copy().view(np.float16).astype(np.float32))
            q = torch.from_numpy(rec[:, 2:].copy().view(np.int8).astype(np.float32))
            return (q * scale).reshape(shape)
        raise SplitbenchError(f"codec: unknown codec {self.name!r}")


CODECS: dict[str, Codec] = {
    "fp32": Codec("fp32", 1, 4),
    "fp16": Codec("fp16", 2, 2),
    "bf16": Codec("bf16", 3, 2),
    "int8": Codec("int8", 4, 1, row_overhead=2),
    "ids": Codec("ids", 5, 4),
}

#: The dtypes activations may cross the link in (a scenario's ``act_dtype``).
ACT_DTYPES = ("fp32", "fp16", "bf16", "int8")


def get_codec(name: str) -> Codec:
    if name not in CODECS or name == "ids":
        raise SplitbenchError(f"act_dtype: unknown codec {name!r} (choose from {', '.join(ACT_DTYPES)})")
    return CODECS[name]


#: dtypes a side may compute in or keep its KV cache in (independent of the wire's act_dtype).
COMPUTE_DTYPES = ("fp32", "fp16", "bf16")


#: How a runtime keeps its KV cache: written in place (static, paged) or grown by copying (dynamic).
KV_CACHES = ("static", "paged", "dynamic")


def per_side(
    value: str | dict[str, str] | None,
    what: str,
    allowed: tuple[str, ...] = COMPUTE_DTYPES,
    default: str = "fp16",
) -> dict[str, str]:
    """A {device, cloud} map from one value for both sides, such a map, or None (``default``)."""
    if value is None:
        value = default
    out = {"device": value, "cloud": value} if isinstance(value, str) else dict(value)
    if set(out) != {"device", "cloud"} or any(v not in allowed for v in out.values()):
        raise SplitbenchError(f"{what}: {value!r} must be one of {', '.join(allowed)} (or one per side)")
    return out


DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}
def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of a compute dtype name (fp32, fp16, bf16)."""
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]
