"""What the cloud can learn in each paradigm, derived from what the paradigm sends and holds.

Three properties, each a consequence of one fact about the split:

- ``prompt_recoverable_by_cloud`` — from the form in which the prompt first reaches the cloud:
  token ids (``exact``), rows of the public embedding table (``exact``: each row is matched to its
  token by a lookup in the same public table), hidden states after one or more decoder layers run
  on the device (``by-inversion``: recovering the text needs an inversion attack on the hidden
  states), or nothing (``no``).
- ``output_recoverable_by_cloud`` — from the last thing the cloud computes for each token: the
  token id itself (``exact``), the final hidden state that the public LM head turns into the
  token's logits (``exact``: the cloud can apply the same public head), or nothing (``no``).
  When the LM head or a device-only layer stack after the cloud's part made the output private,
  the form would be ``by-inversion``; none of the built-in paradigms does that.
- ``private_weights_leave_device`` — whether the personalised weights (PrivateLoRA's M, LoRA's
  A/B, SPA's side network, layer-split's device layers; for cloud-only, a personalised model at all)
  have to be held by the cloud: ``yes`` for cloud-only, ``no`` where they stay on the device.

``data_leaving_device`` (nothing / activations / tokens) is kept beside these: it says what kind
of tensor crosses the link, these say what that tensor gives away.
"""

from __future__ import annotations

from typing import Literal

Recoverable = Literal["exact", "by-inversion", "no"]

#: How the prompt first reaches the cloud -> what the cloud can recover of it.
PROMPT_FORMS: dict[str, Recoverable] = {
    "token ids": "exact",
    "embedding rows": "exact",
    "hidden states": "by-inversion",
    "nothing": "no",
}
#: What the cloud computes last for each output token -> what it can recover of the output.
OUTPUT_FORMS: dict[str, Recoverable] = {
    "token ids": "exact",
    "final hidden state": "exact",
    "partial hidden state": "by-inversion",
    "nothing": "no",
}
PRIVACY_COLUMNS = [
    "prompt_recoverable_by_cloud", "output_recoverable_by_cloud", "private_weights_leave_device",
]


def privacy_columns(prompt_form: str, output_form: str, private_weights_side: str) -> dict[str, str]:
    """The three columns from a paradigm's prompt form, output form and where its private weights live."""
    return {
        "prompt_recoverable_by_cloud": PROMPT_FORMS[prompt_form],
        "output_recoverable_by_cloud": OUTPUT_FORMS[output_form],
        "private_weights_leave_device": "yes" if private_weights_side == "cloud" else "no",
    }
