"""The multi-task network and its deploy wrapper.

``MultiTaskNet(backbone, neck, heads)`` is built from ready-made modules. Its forward
returns each head's raw outputs for training. ``DeployModel`` is the graph that gets
exported: uint8 NHWC frames in, normalisation inside, every head's decoded outputs
out, named ``<head>.<field>`` (the engine contract: README, Export).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from mtl_edge.models.heads.base import Head

#: Input normalisation, applied inside the graph: (x / 255 - MEAN) / STD.
MEAN = (0.45, 0.45, 0.45)
STD = (0.25, 0.25, 0.25)


def pyramid(backbone: nn.Module, neck: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """Backbone maps c2..c5 (strides 4..32), neck maps p3..p5 (strides 8..32) and the input, by name.

    ``image`` is the normalised input itself, for heads that take a second look at pixels.
    """
    c = backbone(x)
    feats = {"image": x, "c2": c[0], "c3": c[1], "c4": c[2], "c5": c[3]}
    feats.update(zip(("p3", "p4", "p5"), neck(c)))  # as many levels as the neck computes
    return feats


def _normalization(device: torch.device | None = None) -> tuple[Tensor, Tensor]:
    """(scale, shift) [1,3,1,1] such that x * scale + shift == (x / 255 - MEAN) / STD."""
    scale = torch.tensor([1.0 / (255.0 * s) for s in STD], device=device).view(1, 3, 1, 1)
    shift = torch.tensor([-m / s for m, s in zip(MEAN, STD)], device=device).view(1, 3, 1, 1)
    return scale, shift


class MultiTaskNet(nn.Module):
    """Shared backbone and neck, one head per task."""

    def __init__(self, backbone: nn.Module, neck: nn.Module, heads: dict[str, Head]) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.heads = nn.ModuleDict(heads)

    def features(self, x: Tensor) -> dict[str, Tensor]:
        return pyramid(self.backbone, self.neck, x)

    @staticmethod
    def normalize(images_nchw_uint8: Tensor) -> Tensor:
        """uint8 [B,3,H,W] batches as the network takes them (see :func:`normalize`)."""
        return normalize(images_nchw_uint8)

    def forward(self, x: Tensor, decode: bool = False) -> dict[str, dict[str, Tensor]]:
        """Each head's raw outputs (for the loss), or with ``decode`` its final outputs."""
        feats = self.features(x)
        return {name: head(feats, decode=decode) for name, head in self.heads.items()}


def without_post_fit(net: MultiTaskNet) -> MultiTaskNet:
    """A copy of ``net`` with every head's post-fit modules (``Head.post_fit_modules``) dropped.

    What the main schedule is scored with: those modules are fitted after it, and scoring
    through them would rank epochs by untrained stages (e.g. random glimpse classifiers).
    """
    bare = copy.deepcopy(net)
    for head in bare.heads.values():
        for name in head.post_fit_modules():
            setattr(head, name, None)
    return bare


class Preprocess(nn.Module):
    """uint8 [B,H,W,3] RGB -> normalised float [B,3,H,W], as one multiply-add.

    The Cast comes first: TensorRT's ONNX parser takes a UINT8 network input only when it
    feeds Cast layers (onnx-tensorrt docs/operators.md, release 10.x), so no other op,
    not even this Transpose, may read the uint8 frame.
    """

    def __init__(self) -> None:
        super().__init__()
        scale, shift = _normalization()
        self.register_buffer("scale", scale, persistent=False)
        self.register_buffer("shift", shift, persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        return images.to(torch.float32).permute(0, 3, 1, 2) * self.scale + self.shift


def normalize(images_nchw_uint8: Tensor) -> Tensor:
    """The training-side twin of Preprocess, for uint8 [B,3,H,W] batches."""
    scale, shift = _normalization(images_nchw_uint8.device)
    return images_nchw_uint8.to(torch.float32) * scale + shift


class DeployModel(nn.Module):
    """Frames in, final outputs out: the one graph that ONNX Runtime and TensorRT run.

    It shares its modules with ``net`` and keeps their names (``backbone``, ``neck``,
    ``heads.<name>``), so every exported node says which module owns it. It sets nothing on
    them: it asks each head for its decoded outputs with ``head(feats, decode=True)``.
    (``.eval()``, ``.half()`` or ``.to()`` on it still reach the shared modules, as on any
    ``nn.Module``.)
    """

    def __init__(self, net: MultiTaskNet, decoded: bool = True) -> None:
        super().__init__()
        self.preprocess = Preprocess()
        self.backbone = net.backbone
        self.neck = net.neck
        self.heads = net.heads
        #: dtype of the backbone, neck and head towers (decode always runs in float32).
        self.compute_dtype = torch.float32
        #: False exports the heads' raw (pre-decode) tensors instead, for parity checks.
        self.decoded = decoded

    @staticmethod
    def output_names_of(net: MultiTaskNet) -> list[str]:
        """``<head>.<field>`` for every output, in graph order."""
        return [f"{name}.{field}" for name, head in net.heads.items() for field in head.output_names]

    def output_names(self) -> list[str]:
        if not self.decoded:
            return [f"{name}.raw.{key}" for name, head in self.heads.items() for key in head.raw_names]
        return self.output_names_of(self)  # type: ignore[arg-type]

    def set_compute_dtype(self, dtype: torch.dtype) -> None:
        self.compute_dtype = dtype

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        x = self.preprocess(images).to(self.compute_dtype)
        feats = pyramid(self.backbone, self.neck, x)
        outputs = []
        for head in self.heads.values():
            result = head(feats, decode=self.decoded)
            outputs.extend(result[key] for key in (head.output_names if self.decoded else head.raw_names))
        return tuple(outputs)

    def as_dict(self, outputs: tuple[Tensor, ...]) -> dict[str, Tensor]:
        return dict(zip(self.output_names(), outputs))


def head_metadata(net: MultiTaskNet, input_hw: tuple[int, int]) -> dict[str, Any]:
    """Per head: its output fields plus what is needed to read them (class names, lane rows)."""
    return {name: {"outputs": list(head.output_names), **head.metadata(input_hw)} for name, head in net.heads.items()}


def build_model(
    backbone: str = "edgenet",
    backbone_kwargs: dict[str, Any] | None = None,
    neck_channels: int = 64,
    neck_depth: int = 1,
    heads: dict[str, Any] | None = None,
) -> MultiTaskNet:
    """Assemble a network from registered parts; ``heads`` maps head name -> its Config (None: defaults)."""
    import mtl_edge.models.heads  # noqa: F401  (registers the heads)
    from mtl_edge.models.neck import PANNeck
    from mtl_edge.models.registry import BACKBONES, HEADS

    trunk = BACKBONES.build(backbone, **(backbone_kwargs or {}))
    chs = [int(f["num_chs"]) for f in trunk.feature_info]
    neck = PANNeck(chs[-3:], channels=neck_channels, depth=neck_depth)
    channels = {
        "c2": chs[0],
        "c3": chs[1],
        "c4": chs[2],
        "c5": chs[3],
        "p3": neck.out_channels,
        "p4": neck.out_channels,
        "p5": neck.out_channels,
    }
    built = {}
    for name, cfg in (heads or {}).items():
        cls = HEADS.get(name)
        built[name] = cls(cfg if cfg is not None else cls.Config(), channels)
    # Compute the neck only as deep as a head reads: unread levels would cost FLOPs and train nothing.
    read = {level for head in built.values() for level in head.reads}
    neck.keep_levels(max((i + 1 for i, level in enumerate(("p3", "p4", "p5")) if level in read), default=1))
    return MultiTaskNet(trunk, neck, built)
