"""Network components: registries, conv blocks, backbones, neck and complexity counters.

Importing this package registers the backbones (torch only; torchvision is imported
when a torchvision backbone is built). Heads register into ``HEADS`` from their own modules.
"""

from mtl_edge.models import backbones as backbones  # registers the backbones
from mtl_edge.models.registry import BACKBONES, HEADS, Registry

__all__ = ["BACKBONES", "HEADS", "Registry", "backbones"]
