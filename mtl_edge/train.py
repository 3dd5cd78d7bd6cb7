"""``mtl-edge train RECIPE --out DIR``: train a multi-task network from a recipe.

AdamW with linear warm-up then cosine decay, an EMA of the weights (evaluated and
saved), AMP on CUDA, deterministic seeding, DistributedDataParallel when launched by
``torchrun``, atomic checkpoints (``last.pt`` every epoch, ``best.pt`` on improvement)
and ``--resume`` from ``last.pt``. After the main schedule every head's post-fit stage
(``Head.post_fit``, e.g. the detection heads' glimpse fit) runs on the frozen best
network; ``post_fit_from`` runs only that stage on an existing checkpoint.
"""

from __future__ import annotations

import copy
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from mtl_edge.checkpoint import load_checkpoint, save_checkpoint
from mtl_edge.data.dataset import DrivingDataset, after_transforms, collate
from mtl_edge.data.splits import MixedDataset, open_split, val_datasets
from mtl_edge.data.tasks import spec_for
from mtl_edge.data.transforms import build_augment, build_transforms
from mtl_edge.evaluate import evaluate, merge_by_head, print_summary
from mtl_edge.losses import MultiTaskLoss
from mtl_edge.models.loading import model_from_recipe
from mtl_edge.models.network import MultiTaskNet, normalize, without_post_fit


class CachedDataset(torch.utils.data.Dataset):
    """Letterboxed samples decoded once and kept in memory; augmentation runs per epoch.

    Decoding a 720p JPEG and resizing it costs more than augmenting the small image, and
    on a 2-core machine every millisecond of loading is a millisecond not training.
    """

    def __init__(self, base: DrivingDataset | MixedDataset, augment: Any, progress: bool = True) -> None:
        from mtl_edge.progress import progress as progress_bar

        self.augment = augment
        self.supervises = base.supervises
        self.heads = base.heads
        self.samples = [base[i] for i in progress_bar(range(len(base)), "cache", enabled=progress, unit=" images")]

    def __len__(self) -> int:
        return len(self.samples)

    def without_augment(self) -> CachedDataset:
        plain = copy.copy(self)
        plain.augment = None
        return plain

    def __getitem__(self, index: int):
        image, target = self.samples[index]
        if self.augment is None:
            return image, target
        image, target = self.augment(image, target)
        return image, after_transforms(target)


class DistributedWeightedSampler(torch.utils.data.Sampler[int]):
    """A mixture's weighted draws under DDP: every process draws the same epoch (seeded by epoch),
    then takes every ``world``-th index from its rank on, so the shares stay the recipe's weights."""

    def __init__(self, weights: torch.Tensor, world: int, rank: int, seed: int = 0) -> None:
        self.weights, self.world, self.rank, self.seed, self.epoch = weights, world, rank, seed, 0
        self.per_rank = math.ceil(len(weights) / world)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        draws = torch.multinomial(self.weights, self.per_rank * self.world, replacement=True, generator=generator)
        return iter(draws[self.rank :: self.world].tolist())

    def __len__(self) -> int:
        return self.per_rank


#: The EMA decay ramps up over about this many steps, so early weights fade quickly.
EMA_WARMUP_STEPS = 200


class ModelEMA:
    """Exponential moving average of weights and BN statistics, warmed up over the first steps."""

    def __init__(self, model: nn.Module, decay: float, updates: int = 0) -> None:
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay, self.updates = decay, updates

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / EMA_WARMUP_STEPS))
        msd = model.state_dict()
        for k, v in self.module.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(msd[k].detach(), alpha=1 - d)
            else:
                v.copy_(msd[k])


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up from 10% to 100%, then cosine decay to 1%."""
    if step < warmup:
        return 0.1 + 0.9 * step / max(1, warmup)
    t = (step - warmup) / max(1, total - warmup)
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def param_groups(modules: list[nn.Module], weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on biases, norms and scalars (learned loss weights)."""
    decay, no_decay = [], []
    for m in modules:
        for p in m.parameters():
            if p.requires_grad:
                (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware: AMX tiles or AVX512-BF16 dot products."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The dtype mixed precision runs convs in on ``device``; None for float32.

    CUDA: bfloat16 where supported, else float16 (with loss scaling). CPU: bfloat16 only where
    the hardware multiplies it (a synth-edge step: 0.47 s against 1.06 s in float32 with AMX;
    about 2x faster with AVX512-BF16 on a Zen 4 EPYC); emulated it is slower than float32.
    """
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else None


def seed_everything(seed: int) -> torch.Generator:
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def combined_score(metrics: dict[str, dict[str, Any]]) -> float:
    """Mean of every head's headline metric; picks best.pt."""
    values = [m[spec_for(h).metric] for h, m in metrics.items()]
    values = [v for v in values if v == v]
    return float(np.mean(values)) if values else float("nan")


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), dist.get_world_size()) if world > 1 else (0, 1)


def train(
    recipe: Any,
    out: str | Path,
    resume: bool = False,
    progress: bool = True,
    max_steps: int | None = None,
    post_fit_from: str | Path | None = None,
) -> Path:
    """Train; returns the path of the best checkpoint. ``max_steps`` stops early (tests).

    ``post_fit_from`` skips the main schedule: it takes that checkpoint's weights and only
    runs the heads' post-fit stages (e.g. fits the glimpse classifiers the recipe adds).
    """
    from mtl_edge.config import recipe_to_dict
    from mtl_edge.progress import progress as progress_bar

    out = Path(out)
    rank, world = _distributed()
    main = rank == 0
    cfg = recipe.train
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    generator = seed_everything(cfg.seed + rank)

    imgsz = tuple(recipe.data.imgsz)
    cached = recipe.data.cache
    transforms = build_transforms(imgsz, train=not cached)
    # Rank 0 generates any data the recipe asks for first; the others then only read it.
    train_base = open_split(recipe.data.train, "train", transforms, progress and main) if main else None
    val_sets = val_datasets(recipe.data.val, progress and main) if main and recipe.data.val is not None else []
    if world > 1:
        dist.barrier()
        if not main:
            train_base = open_split(recipe.data.train, "train", transforms)
    assert train_base is not None
    if main and recipe.data.val is None:
        print("the recipe has no data.val: no validation, and best.pt will be the last epoch's weights")
    train_ds: Any = CachedDataset(train_base, build_augment(), progress=progress and main) if cached else train_base
    weights = train_base.sample_weights() if isinstance(train_base, MixedDataset) else None
    if world > 1 and weights is not None:
        sampler: Any = DistributedWeightedSampler(weights, world, rank, seed=cfg.seed)
    elif world > 1:
        sampler = torch.utils.data.DistributedSampler(train_ds, world, rank, seed=cfg.seed)
    elif weights is not None:  # a mixture: each dataset's share of a batch is its weight
        sampler = torch.utils.data.WeightedRandomSampler(weights, len(train_ds), replacement=True, generator=generator)
    else:
        sampler = torch.utils.data.RandomSampler(train_ds, generator=generator)
    loader = torch.utils.data.DataLoader(
        train_ds,
        batch_size=cfg.batch,
        sampler=sampler,
        drop_last=len(train_ds) > cfg.batch,
        collate_fn=collate,
        num_workers=recipe.data.workers,
        persistent_workers=recipe.data.workers > 0,
    )

    net = model_from_recipe(recipe.model).to(device)
    if post_fit_from is not None:  # contiguous layout: refits stay bit-identical to the shipped glimpses
        start = _load_without_post_fit(net, post_fit_from)
        stats = run_post_fit(net, _post_fit_loader(net, train_ds, cfg), cfg.seed, progress)
        return _score_and_save(recipe, net, start, out, val_sets, stats)
    # Channels-last lets oneDNN (CPU) and cuDNN skip layout reorders around convs: 7% faster per CPU step
    # (synth-edge with a stride-4 vehicles map, same run). Checkpoints store contiguous tensors either way.
    net = net.to(memory_format=torch.channels_last)
    for module in _post_fit_modules(net).values():  # fitted after the schedule; no loss reaches them in it
        module.requires_grad_(False)  # (DDP would fail on parameters without gradients)
    criterion = MultiTaskLoss(list(net.heads), train_ds.heads, recipe.loss.weights, recipe.loss.uncertainty).to(device)
    # Heads pick their pyramid levels, so some modules may feed no loss (the neck's bottom-up path when
    # every head reads p3): DDP must look for unused parameters or its second step fails.
    model: nn.Module = nn.parallel.DistributedDataParallel(net, find_unused_parameters=True) if world > 1 else net
    opt = torch.optim.AdamW(param_groups([net, criterion], cfg.weight_decay), lr=cfg.lr)
    amp_dtype = autocast_dtype(device) if cfg.amp else None
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    precision = "float32" if amp_dtype is None else f"{amp_dtype} autocast".removeprefix("torch.")
    if main:
        print(f"training in {precision} on {device.type}")
    ema = ModelEMA(net, cfg.ema_decay)
    steps_per_epoch = max(1, len(loader))
    total, warmup = cfg.epochs * steps_per_epoch, int(cfg.warmup_epochs * steps_per_epoch)
    start_epoch, best, history = 0, -1.0, []

    if resume:
        state = load_checkpoint(out / "last.pt")
        ts = state["train_state"]
        net.load_state_dict(ts["model"])
        criterion.load_state_dict(ts["criterion"])
        try:
            opt.load_state_dict(ts["optimizer"])
        except ValueError as e:  # parameter groups of another size: the model changed since
            from mtl_edge.checkpoint import CheckpointError

            raise CheckpointError(
                f"{out / 'last.pt'}: its optimizer state is for a model with other parameters ({e}); it was "
                "written by another mtl-edge version. Finish the run with that version, or start it again "
                "without --resume."
            ) from e
        ema.module.load_state_dict(state["model"])
        ema.updates = ts["ema_updates"]
        start_epoch, best, history = state["epoch"] + 1, ts["best"], ts["history"]
        if main:
            print(f"resuming {out / 'last.pt'} after epoch {state['epoch'] + 1}")

    step = start_epoch * steps_per_epoch
    classes = {h: list(getattr(net.heads[h].cfg, "classes", ())) for h in net.heads}
    for epoch in range(start_epoch, cfg.epochs):
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        generator.manual_seed(cfg.seed * 1000 + epoch)
        model.train()
        started = time.perf_counter()
        bar = progress_bar(loader, f"epoch {epoch + 1}/{cfg.epochs}", enabled=progress and main)
        running: dict[str, float] = {}
        for images, targets in bar:
            for g in opt.param_groups:
                g["lr"] = cfg.lr * lr_factor(step, total, warmup)
            images = images.to(device, non_blocking=True)
            targets["supervises"] = targets["supervises"].to(device)
            targets["input_hw"] = tuple(images.shape[-2:])
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                raw = model(normalize(images).contiguous(memory_format=torch.channels_last))
            losses = criterion(net, raw, targets)
            opt.zero_grad(set_to_none=True)
            scaler.scale(losses["loss"]).backward()
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
            ema.update(net)
            step += 1
            for k in ["loss", *net.heads]:
                value = float(losses[k].detach())
                running[k] = 0.9 * running.get(k, value) + 0.1 * value
            bar.set_postfix({k: f"{v:.3f}" for k, v in running.items()})
            if max_steps is not None and step >= max_steps:
                break
        if not main:
            continue
        last_epoch = epoch + 1 == cfg.epochs or (max_steps is not None and step >= max_steps)
        metrics: dict[str, Any] = {}
        by_dataset: dict[str, Any] = {}
        if val_sets and ((epoch + 1) % cfg.eval_every == 0 or last_epoch):
            print(f"epoch {epoch + 1}: {time.perf_counter() - started:.0f} s, loss {running.get('loss', 0):.3f}")
            # post-fit modules are fitted after the schedule: score without them
            metrics, by_dataset = validate(without_post_fit(ema.module), val_sets, imgsz, cfg)
        score = combined_score(metrics) if metrics else float("nan")
        history.append(  # precision too: a run resumed on another CPU may switch it
            {
                "epoch": epoch + 1,
                "loss": running,
                "score": score,
                "seconds": time.perf_counter() - started,
                "precision": precision,
            }
        )
        train_state = {
            "model": net.state_dict(),
            "criterion": criterion.state_dict(),
            "optimizer": opt.state_dict(),
            "ema_updates": ema.updates,
            "best": max(best, score if score == score else -1.0),
            "history": history,
        }
        common = {
            "recipe": recipe_to_dict(recipe),
            "model": ema.module.state_dict(),
            "metrics": metrics,
            "val_datasets": by_dataset,
            "epoch": epoch,
            "classes": classes,
        }
        save_checkpoint(out / "last.pt", train_state=train_state, **common)
        # Without validation the last epoch is the best there is; with it, the best score so far.
        if not val_sets or (score == score and score > best) or not (out / "best.pt").exists():
            best = max(best, score if score == score else -1.0)
            save_checkpoint(out / "best.pt", **common)
        if max_steps is not None and step >= max_steps:
            break
    if main:
        best_state = load_checkpoint(out / "best.pt")
        kept = "the last epoch, as there is no validation split" if not val_sets else f"score {best:.4f}"
        print(f"best.pt: epoch {best_state['epoch'] + 1} ({kept})")
        best_net = model_from_recipe(recipe.model).to(device)  # a fresh module: DDP's hooks stay on `net`
        best_net.load_state_dict(best_state["model"])
        stats = run_post_fit(best_net, _post_fit_loader(best_net, train_ds, cfg), cfg.seed, progress)
        if stats:  # a head had a post-fit stage: best.pt gets its weights and the scores with them
            _score_and_save(recipe, best_net, best_state, out, val_sets, stats)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return out / "best.pt"


def run_post_fit(net: MultiTaskNet, loader: Any, seed: int, progress: bool = True) -> dict[str, dict[str, Any]]:
    """Every head's post-fit stage (``Head.post_fit``), once each, in the model's head order.

    Returns the stats of the heads that had something to do (an empty dict: none had).
    """
    started = time.perf_counter()
    stats = {}
    for name, head in net.heads.items():
        got = head.post_fit(net, loader, seed=seed, progress=progress)
        if got:
            stats[name] = got
    net.eval()
    if stats:
        print(f"post-fit stages done in {time.perf_counter() - started:.0f} s: {stats}")
    return stats


def _post_fit_modules(net: MultiTaskNet) -> dict[str, nn.Module]:
    """``heads.<name>.<module>`` -> module, for every head's post-fit modules."""
    heads = net.heads.items()
    return {f"heads.{name}.{attr}": getattr(head, attr) for name, head in heads for attr in head.post_fit_modules()}


def _post_fit_loader(net: MultiTaskNet, train_ds: Any, cfg: Any) -> Any:
    """The training samples that label a head with a post-fit stage, un-augmented and in order.

    In a mixture, a lanes-only dataset's frames would only cost the glimpse fit time.
    """
    plain = train_ds.without_augment() if isinstance(train_ds, CachedDataset) else train_ds
    heads = {key.split(".")[1] for key in _post_fit_modules(net)}
    columns = [i for i, h in enumerate(train_ds.heads) if h in heads]
    if columns and not bool(train_ds.supervises[:, columns].all()):
        keep = train_ds.supervises[:, columns].any(1).nonzero().flatten().tolist()
        plain = torch.utils.data.Subset(plain, keep)
    return torch.utils.data.DataLoader(plain, batch_size=cfg.batch, shuffle=False, collate_fn=collate)


def _load_without_post_fit(net: MultiTaskNet, path: str | Path) -> dict[str, Any]:
    """Load a checkpoint whose weights match ``net`` except for post-fit modules it lacks."""
    from mtl_edge.checkpoint import CheckpointError

    ckpt = load_checkpoint(path)
    prefixes = tuple(f"{key}." for key in _post_fit_modules(net))
    own = {k: v for k, v in ckpt["model"].items() if not k.startswith(prefixes)}
    try:
        missing, unexpected = net.load_state_dict(own, strict=False)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: its weights do not fit this recipe's model ({str(e)[:300]}).") from e
    other = [k for k in missing if not k.startswith(prefixes)]
    if other or unexpected:
        raise CheckpointError(
            f"{path}: its model differs from the recipe's beyond the modules fitted after the schedule "
            f"({', '.join(p.rstrip('.') for p in prefixes) or 'none'}; missing {other[:3]}, unexpected "
            f"{unexpected[:3]}). Use the recipe it was trained with, plus those modules (e.g. glimpses)."
        )
    return ckpt


def validate(
    net: Any, val_sets: list[DrivingDataset], imgsz: tuple[int, int], cfg: Any
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Score ``net`` on each validation dataset, each head only on the datasets that label it.

    Returns (per head: the numbers of the first dataset that scores it, per dataset: its heads' numbers).
    """
    by_dataset: dict[str, dict[str, Any]] = {}
    for ds in val_sets:
        count = min(cfg.eval_images, len(ds))
        results = evaluate(net, ds, imgsz, n_images=count, score_threshold=cfg.score_threshold)
        labelled = ds.labelled_heads(count)
        by_dataset[ds.name] = {h: m for h, m in results.items() if h in labelled}
        if len(val_sets) > 1:
            print(f"validation on {ds.name} ({count} images):")
        print(print_summary(by_dataset[ds.name]) if by_dataset[ds.name] else f"{ds.name}: labels none of the heads")
    return merge_by_head(by_dataset), by_dataset


def _score_and_save(
    recipe: Any,
    net: MultiTaskNet,
    start: dict[str, Any],
    out: Path,
    val_sets: list[DrivingDataset],
    stats: dict[str, Any],
) -> Path:
    """Evaluate ``net`` (weights of checkpoint ``start`` plus its post-fit stages) and write ``out/best.pt``."""
    from mtl_edge.config import recipe_to_dict

    metrics: dict[str, Any] = {}
    by_dataset: dict[str, Any] = {}
    if val_sets:
        metrics, by_dataset = validate(net, val_sets, tuple(recipe.data.imgsz), recipe.train)
    classes = {h: list(getattr(net.heads[h].cfg, "classes", ())) for h in net.heads}
    save_checkpoint(
        out / "best.pt",
        recipe=recipe_to_dict(recipe),
        model=net.state_dict(),
        metrics=metrics,
        val_datasets=by_dataset,
        epoch=start["epoch"],
        classes=classes,
    )
    return out / "best.pt"


__all__ = ["train"]
