"""One module per family of paradigms; PARADIGMS maps a method name to its split-model class."""

from splitbench.models.paradigms.adapters import LoraSplit, PrivateLoRA
from splitbench.models.paradigms.base import SplitModel
from splitbench.models.paradigms.simple import CloudOnly, DeviceOnly, LayerSplit
from splitbench.models.paradigms.spa import SPA

PARADIGMS: dict[str, type[SplitModel]] = {
    c.name: c for c in (DeviceOnly, CloudOnly, PrivateLoRA, SPA, LoraSplit, LayerSplit)
}

__all__ = ["PARADIGMS", "SplitModel"]
