"""Fit a detection head's glimpse classifier on a trained, frozen network: its post-fit stage.

``DetectionHead.post_fit`` calls :func:`fit_glimpse` after the main schedule, for the
glimpse's ``fit_epochs``.

The glimpse sees what the deployed decode will give it: the head's own class-agnostic
candidates on the training images, each labelled by its best IoU with the ground truth
(>= ``positive_iou``, 0.5 by default, with a labelled object: that class; < 0.3 with
every object: background; in between, or on an ignored object: left out). Jittered
copies of every labelled box (4 each, centre shifted up to 15% of the side, scale
0.8-1.25) add positives the candidates miss. A glimpse that refines boxes also learns,
on the positives, the deltas from the candidate box to its object's box (smooth L1).
This is the second stage of a two-stage detector, trained the way
Faster R-CNN trains its box head on proposals: minutes on a CPU, since only small
crops pass through a small CNN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mtl_edge.metrics import box_iou
from mtl_edge.models.heads.glimpse import GlimpseClassifier, crop_boxes, encode_deltas

if TYPE_CHECKING:  # detection.py imports this module when it fits its glimpse; network.py imports the heads
    from mtl_edge.models.heads.detection import DetectionHead
    from mtl_edge.models.network import MultiTaskNet

#: IoU below which (with every object, ignored ones included) a candidate is background.
BACKGROUND_IOU = 0.3
#: Jittered copies of each labelled box added as positives.
JITTERS = 4


@dataclass
class GlimpseSamples:
    """What a glimpse is fitted on: crops, their labels, and (for refinement) boxes and targets."""

    crops: Tensor  # float16 [N,3,S,S]
    labels: Tensor  # int64 [N]; the background class is n_classes
    boxes: Tensor  # float32 [N,4], the box each crop was cut around
    targets: Tensor  # float32 [N,4], its object's box (positives only; background rows repeat ``boxes``)


def label_candidates(
    cands: np.ndarray, gt: np.ndarray, labels: np.ndarray, ignore: np.ndarray, bg: int, positive_iou: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Class per candidate box (``bg`` for background, -1 for left out; see the module doc) and the
    index of its best-matching object (-1 without one)."""
    if len(gt) == 0:
        return np.full(len(cands), bg, np.int64), np.full(len(cands), -1, np.int64)
    iou = box_iou(cands.astype(np.float64), gt.astype(np.float64))
    best, which = iou.max(1), iou.argmax(1)
    out = np.where(best < BACKGROUND_IOU, bg, -1)
    positive = (best >= positive_iou) & ~ignore[which] & (labels[which] >= 0)
    out[positive] = labels[which][positive]
    return out, np.where(positive, which, -1)


def jittered(gt: np.ndarray, rng: np.random.Generator, copies: int = JITTERS) -> np.ndarray:
    """``copies`` randomly shifted and scaled versions of each box [N,4] -> [N*copies,4]."""
    if len(gt) == 0:
        return np.zeros((0, 4), np.float32)
    boxes = np.repeat(gt.astype(np.float64), copies, 0)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    scale = np.exp(rng.uniform(math.log(0.8), math.log(1.25), len(boxes)))
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 + rng.uniform(-0.15, 0.15, len(boxes)) * w
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 + rng.uniform(-0.15, 0.15, len(boxes)) * h
    hw, hh = w * scale / 2, h * scale / 2
    return np.stack([cx - hw, cy - hh, cx + hw, cy + hh], 1).astype(np.float32)


def _samples_of_image(
    head: DetectionHead, x: Tensor, mine: np.ndarray, batch: dict[str, Any], i: int, rng: np.random.Generator
) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
    """Crops, labels, boxes and box targets from image ``i``'s candidates ``mine`` and its objects."""
    cfg, bg = head.cfg.glimpse, len(head.cfg.classes)
    assert cfg is not None
    sel = (batch["head"][i] == head.box_head_id(batch)).numpy()
    gt = np.asarray(batch["boxes"][i], np.float32)[sel].reshape(-1, 4)
    cls, ign = batch["labels"][i].numpy()[sel], batch["ignore"][i].numpy()[sel].astype(bool)
    lab, which = label_candidates(mine, gt, cls, ign, bg, cfg.positive_iou)
    used = lab >= 0
    keep_gt = ~ign & (cls >= 0)
    b = np.concatenate([mine[used], jittered(gt[keep_gt], rng)])
    if not len(b):
        return None
    matched = mine[used].copy()
    matched[which[used] >= 0] = gt[which[used][which[used] >= 0]]
    target = np.concatenate([matched, np.repeat(gt[keep_gt], JITTERS, 0)])
    boxes = torch.from_numpy(b.astype(np.float32))
    crops = crop_boxes(x, boxes.to(x.device, x.dtype).unsqueeze(0), cfg.size, cfg.context).half().cpu()
    labels = torch.from_numpy(np.concatenate([lab[used], np.repeat(cls[keep_gt], JITTERS)]))
    return crops, labels, boxes, torch.from_numpy(target.astype(np.float32))


@torch.no_grad()
def collect_samples(
    net: MultiTaskNet, names: list[str], loader: Any, seed: int = 0, progress: bool = True
) -> dict[str, GlimpseSamples]:
    """Glimpse training samples for each head of ``names`` over ``loader``'s (un-augmented)
    batches. The frozen network runs once per batch for all of them; each head draws its
    box jitter from its own generator seeded with ``seed``."""
    from mtl_edge.progress import progress as progress_bar

    heads = {name: net.heads[name] for name in names}
    assert all(getattr(h, "glimpse", None) is not None for h in heads.values())
    rngs = {name: np.random.default_rng(seed) for name in names}
    device = next(net.parameters()).device
    parts: dict[str, list[tuple[Tensor, ...]]] = {name: [] for name in names}
    net.eval()
    for images, batch in progress_bar(loader, "glimpse samples", enabled=progress, unit=" batches"):
        x = net.normalize(images.to(device))
        feats = net.features(x)
        for name, head in heads.items():
            _, cand = head.candidates(head(feats))
            head_index = batch["heads"].index(name)
            for i in range(len(x)):
                if not bool(batch["supervises"][i, head_index]):
                    continue  # this sample does not label the head's objects: its candidates are not negatives
                got = _samples_of_image(head, x[i : i + 1], cand[i].cpu().numpy(), batch, i, rngs[name])
                if got is not None:
                    parts[name].append(got)
    out = {}
    for name, got in parts.items():
        if not got:
            raise ValueError(f"no {name} samples to fit the glimpse on: the training data label no {name} objects")
        out[name] = GlimpseSamples(*(torch.cat(column) for column in zip(*got, strict=True)))
    return out


def fit_classifier(
    glimpse: GlimpseClassifier,
    samples: GlimpseSamples,
    epochs: int,
    batch: int = 128,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, float]:
    """Train ``glimpse`` (AdamW, one-cycle LR, brightness/contrast jitter); returns loss and accuracy."""
    from mtl_edge.progress import progress as progress_bar

    device = next(glimpse.parameters()).device
    crops, labels = samples.crops, samples.labels
    n_classes = glimpse.logits.out_features - 1
    restart(glimpse, seed)
    positive = labels < n_classes
    deltas = torch.zeros(len(labels), 4)
    deltas[positive] = encode_deltas(samples.boxes[positive].double(), samples.targets[positive].double()).float()
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = max(1, len(crops) // batch)
    opt = torch.optim.AdamW(glimpse.parameters(), lr=4e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, total_steps=epochs * steps_per_epoch)
    glimpse.train()
    loss = torch.zeros(())
    for epoch in range(epochs):
        order = torch.randperm(len(crops), generator=gen)
        bar = progress_bar(range(steps_per_epoch), f"glimpse epoch {epoch + 1}/{epochs}", enabled=progress)
        for step in bar:
            idx = order[step * batch : (step + 1) * batch]
            x = crops[idx].to(device, torch.float32)
            gain = torch.empty(len(x), 1, 1, 1).uniform_(0.8, 1.2, generator=gen).to(device)
            shift = torch.empty(len(x), 1, 1, 1).uniform_(-0.3, 0.3, generator=gen).to(device)
            logits, predicted_deltas = glimpse.classify(x * gain + shift)
            loss = F.cross_entropy(logits, labels[idx].to(device))
            if predicted_deltas is not None:
                pos = positive[idx].to(device)
                box_loss = F.smooth_l1_loss(predicted_deltas[pos], deltas[idx].to(device)[pos], reduction="sum")
                loss = loss + box_loss / len(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    glimpse.eval()
    with torch.no_grad():
        chunks = [crops[i : i + 1024].to(device, torch.float32) for i in range(0, len(crops), 1024)]
        predicted = torch.cat([glimpse.classify(c)[0].argmax(1).cpu() for c in chunks])
    accuracy = float((predicted == labels).float().mean())
    return {"samples": float(len(crops)), "loss": loss.item(), "train_accuracy": accuracy}


def restart(glimpse: GlimpseClassifier, seed: int) -> None:
    """Give ``glimpse`` the initial weights seed ``seed`` draws, whatever it held before.

    The fit then depends only on the frozen network, the data and the seed: a glimpse fitted
    at the end of ``mtl-edge train`` equals one refitted later with ``--post-fit-from``.
    """
    in_channels = next(glimpse.features.parameters()).shape[1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = GlimpseClassifier(glimpse.cfg, glimpse.logits.out_features - 1, in_channels)
    glimpse.load_state_dict(fresh.state_dict())


def fit_glimpse(
    net: MultiTaskNet, head: DetectionHead, loader: Any, seed: int = 0, progress: bool = True
) -> dict[str, float]:
    """Fit ``head``'s glimpse (the rest of ``net`` stays frozen) for its ``fit_epochs``; returns fitting stats."""
    assert head.glimpse is not None
    name = next(n for n, h in net.heads.items() if h is head)
    samples = collect_samples(net, [name], loader, seed, progress)[name]
    stats = fit_classifier(head.glimpse, samples, head.cfg.glimpse.fit_epochs, seed=seed, progress=progress)
    net.eval()
    return stats
