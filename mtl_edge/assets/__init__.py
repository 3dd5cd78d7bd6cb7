"""Files shipped with the package: the trained ``synth-edge`` checkpoint."""

from pathlib import Path

#: The checkpoint `mtl-edge` ships; reproduce it with `mtl-edge train recipes/synth-edge.yaml --out runs/synth-edge`.
SHIPPED_CHECKPOINT = Path(__file__).with_name("synth-edge.pt")
