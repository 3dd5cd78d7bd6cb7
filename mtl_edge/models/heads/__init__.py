"""Task heads. Each owns its layers, its loss and its export-ready decode, and registers in ``HEADS``."""

from mtl_edge.models.heads import detection as detection  # registers "vehicles" and "signs"
from mtl_edge.models.heads import drivable as drivable  # registers "drivable"
from mtl_edge.models.heads import lanes as lanes  # registers "lanes"
from mtl_edge.models.heads.base import Head

__all__ = ["Head", "detection", "drivable", "lanes"]
