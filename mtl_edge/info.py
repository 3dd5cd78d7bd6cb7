"""``mtl-edge info``: what a checkpoint holds and what it costs."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from mtl_edge.models.blocks import reparameterize_model
from mtl_edge.models.complexity import count_gflops, count_params


class _Decoded(torch.nn.Module):
    """The network with its decode, which is what a deployed model computes."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> dict:
        return self.net(x, decode=True)


def describe(path: str | Path, imgsz: tuple[int, int] | None = None) -> str:
    from mtl_edge.config import recipe_from_dict
    from mtl_edge.models.loading import load_model

    net, ckpt = load_model(path)
    recipe = recipe_from_dict(ckpt["recipe"], where=f"{path} (recipe)")
    h, w = imgsz or tuple(recipe.data.imgsz)
    deploy = _Decoded(reparameterize_model(copy.deepcopy(net)).eval())  # a glimpse classifier runs in the decode
    lines = [
        f"checkpoint  {path}",
        f"recipe      {recipe.name} (epoch {ckpt['epoch'] + 1}, mtl-edge {ckpt['package_version']})",
        f"backbone    {recipe.model.backbone.name} (width {recipe.model.backbone.width})",
        f"params      {count_params(deploy) / 1e6:.3f} M (deploy form)",
        f"GFLOPs      {count_gflops(deploy, (1, 3, h, w)):.3f} at {w}x{h} (2 x multiply-accumulates, deploy form)",
        "heads",
    ]
    for name in net.heads:
        classes = ckpt["classes"].get(name) or []
        lines.append(f"  {name:<9} {', '.join(classes) if classes else ''}")
    if ckpt.get("metrics"):
        from mtl_edge.evaluate import print_summary

        lines += ["metrics (validation, recorded at training time)", print_summary(ckpt["metrics"])]
    return "\n".join(lines)
