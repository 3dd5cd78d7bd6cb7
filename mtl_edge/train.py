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
from mtl_edge.data.dataset import DrivingDataset, collate
from mtl_edge.data.splits import make_dataset, prepare_split, split_dataset
from mtl_edge.data.tasks import spec_for
from mtl_edge.data.transforms import build_augment, build_transforms
from mtl_edge.evaluate import evaluate, print_summary
from mtl_edge.losses import MultiTaskLoss
from mtl_edge.models.loading import model_from_recipe
from mtl_edge.models.network import MultiTaskNet, normalize, without_post_fit


class CachedDataset(torch.utils.data.Dataset):
    """Letterboxed samples decoded once and kept in memory; augmentation runs per epoch.

    Decoding a 720p JPEG and resizing it costs more than augmenting the small image, and
    on a 2-core machine every millisecond of loading is a millisecond not training.
    """

    def __init__(self, base: DrivingDataset, augment: Any, progress: bool = True) -> None:
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
        return self.augment(image, target) if self.augment is not None else (image, target)


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

    train_root = prepare_split(recipe.data.train, "train", progress and main) if main else None
    # Every recipe has a validation split; an images + labels split has no folder, so it is read as a dataset.
    val_data = split_dataset(recipe.data.val, "val", progress and main) if main else None
    if world > 1:
        dist.barrier()  # rank 0 has generated the data; the others only locate it
        if not main:
            train_root = prepare_split(recipe.data.train, "train", False)
    imgsz = tuple(recipe.data.imgsz)
    if recipe.data.cache:
        base = make_dataset(recipe.data.train, train_root, build_transforms(imgsz, train=False))
        train_ds: Any = CachedDataset(base, build_augment(), progress=progress and main)
    else:
        train_ds = make_dataset(recipe.data.train, train_root, build_transforms(imgsz, train=True))
    sampler = (
        torch.utils.data.DistributedSampler(train_ds, world, rank, seed=cfg.seed)
        if world > 1
        else torch.utils.data.RandomSampler(train_ds, generator=generator)
    )
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
        stats = run_post_fit(net, _post_fit_loader(train_ds, cfg), cfg.seed, progress)
        return _score_and_save(recipe, net, start, out, val_data, stats)
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
        if isinstance(sampler, torch.utils.data.DistributedSampler):
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
        if val_data is not None and ((epoch + 1) % cfg.eval_every == 0 or last_epoch):
            metrics = evaluate(  # post-fit modules are fitted after the schedule: score without them
                without_post_fit(ema.module),
                val_data,
                imgsz,
                n_images=cfg.eval_images,
                score_threshold=cfg.score_threshold,
            )
            print(f"epoch {epoch + 1}: {time.perf_counter() - started:.0f} s, loss {running.get('loss', 0):.3f}")
            print(print_summary(metrics))
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
            "epoch": epoch,
            "classes": classes,
        }
        save_checkpoint(out / "last.pt", train_state=train_state, **common)
        if score == score and score > best or not (out / "best.pt").exists():
            best = max(best, score if score == score else -1.0)
            save_checkpoint(out / "best.pt", **common)
        if max_steps is not None and step >= max_steps:
            break
    if main:
        best_state = load_checkpoint(out / "best.pt")
        best_net = model_from_recipe(recipe.model).to(device)  # a fresh module: DDP's hooks stay on `net`
        best_net.load_state_dict(best_state["model"])
        stats = run_post_fit(best_net, _post_fit_loader(train_ds, cfg), cfg.seed, progress)
        if stats:  # a head had a post-fit stage: best.pt gets its weights and the scores with them
            _score_and_save(recipe, best_net, best_state, out, val_data, stats)
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


def _post_fit_loader(train_ds: Any, cfg: Any) -> Any:
    """The training split, un-augmented and in order, for the post-fit stages."""
    plain = train_ds.without_augment() if isinstance(train_ds, CachedDataset) else train_ds
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


def _score_and_save(
    recipe: Any, net: MultiTaskNet, start: dict[str, Any], out: Path, val_data: Any, stats: dict[str, Any]
) -> Path:
    """Evaluate ``net`` (weights of checkpoint ``start`` plus its post-fit stages) and write ``out/best.pt``."""
    from mtl_edge.config import recipe_to_dict

    cfg = recipe.train
    metrics: dict[str, Any] = {}
    if val_data is not None:
        metrics = evaluate(
            net, val_data, tuple(recipe.data.imgsz), n_images=cfg.eval_images, score_threshold=cfg.score_threshold
        )
        print(print_summary(metrics))
    classes = {h: list(getattr(net.heads[h].cfg, "classes", ())) for h in net.heads}
    save_checkpoint(
        out / "best.pt",
        recipe=recipe_to_dict(recipe),
        model=net.state_dict(),
        metrics=metrics,
        epoch=start["epoch"],
        classes=classes,
    )
    return out / "best.pt"


__all__ = ["train"]
