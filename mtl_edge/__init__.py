"""mtl-edge: multi-task driving perception (lanes, vehicles, signs, drivable area) for the edge."""

__version__ = "0.1.0"
