"""Codecs: numeric serialized length equals the shape-mode size; round trips; framing."""

import pytest
import torch

from splitbench import SplitbenchError
from splitbench.models.codec import CODECS, header_bytes


@pytest.mark.parametrize("name", sorted(CODECS))
@pytest.mark.parametrize("shape", [(1, 1, 64), (1, 7, 96), (3, 5), (11,)])
def test_encoded_length_equals_shape_size(name, shape):
    codec = CODECS[name]
    x = torch.randint(0, 1000, shape) if name == "ids" else torch.randn(shape)
    data = codec.encode(x)
    assert len(data) == codec.encoded_size(torch.empty(shape, device="meta").shape)
    assert len(data) - codec.body_size(shape) == header_bytes(len(shape))


@pytest.mark.parametrize("name,tol", [("fp32", 0.0), ("fp16", 1e-3), ("bf16", 1e-2), ("int8", 1.5e-2)])
def test_round_trip(name, tol):
    x = torch.randn(2, 9, 33)
    y = CODECS[name].decode(CODECS[name].encode(x))
    assert y.shape == x.shape
    assert float((x - y).abs().max()) <= tol * float(x.abs().max())


def test_closed_forms():
    assert CODECS["fp16"].encoded_size((1, 1, 384)) == 8 + 3 * 4 + 384 * 2
    assert CODECS["int8"].encoded_size((1, 4, 10)) == 8 + 12 + 4 * (2 + 10)
    assert CODECS["ids"].encoded_size((1, 1)) == 8 + 8 + 4


def test_ids_round_trip_and_meta_encode_rejected():
    ids = torch.tensor([[5, 31999, 0]])
    assert torch.equal(CODECS["ids"].decode(CODECS["ids"].encode(ids)), ids)
    with pytest.raises(SplitbenchError):
        CODECS["fp16"].encode(torch.empty(2, device="meta"))
