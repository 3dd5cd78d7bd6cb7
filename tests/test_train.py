"""Training: a run writes loadable checkpoints, resumes, and runs under DDP (2 processes, gloo)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from mtl_edge.checkpoint import load_checkpoint
from mtl_edge.config import dump_recipe
from mtl_edge.evaluate import evaluate
from mtl_edge.models.heads.detection import DetectionHead
from mtl_edge.models.heads.glimpse import GlimpseConfig
from mtl_edge.models.loading import load_model
from mtl_edge.models.network import DeployModel, without_post_fit
from mtl_edge.train import autocast_dtype, lr_factor, train

from .conftest import tiny_recipe

REPO = Path(__file__).resolve().parents[1]


def test_a_run_writes_checkpoints_that_rebuild_the_model(tiny_run):
    net, ckpt = load_model(tiny_run / "best.pt")
    assert set(net.heads) == {"lanes", "vehicles", "signs", "drivable"}
    assert ckpt["classes"]["signs"][0] == "stop" and ckpt["recipe"]["name"] == "synth-tiny"
    assert set(ckpt["metrics"]) == {"lanes", "vehicles", "signs", "drivable"}
    last = load_checkpoint(tiny_run / "last.pt")
    assert "train_state" in last and "optimizer" in last["train_state"]
    # The glimpse is left alone by the schedule (last.pt) and fitted afterwards on the best weights (best.pt).
    glimpse = [k for k in ckpt["model"] if ".glimpse." in k and k.endswith("weight")]
    assert glimpse and not all(torch.equal(ckpt["model"][k], last["model"][k]) for k in glimpse)
    frozen = [k for k in last["train_state"]["model"] if ".glimpse." in k]
    assert all(torch.allclose(last["train_state"]["model"][k], last["model"][k], rtol=1e-6) for k in frozen)


def test_the_schedule_scores_its_epochs_without_the_unfitted_glimpses(tiny_run, tiny_data):
    last = load_checkpoint(tiny_run / "last.pt")
    net, _ = load_model(tiny_run / "last.pt")
    bare = without_post_fit(net)
    assert net.heads["signs"].glimpse is not None and bare.heads["signs"].glimpse is None  # the original is kept
    image = torch.randint(0, 256, (1, 128, 224, 3), dtype=torch.uint8)
    assert not torch.equal(_decoded(net, image)["signs.scores"], _decoded(bare, image)["signs.scores"])
    np.testing.assert_equal(last["metrics"], evaluate(bare, tiny_data[1], (128, 224), n_images=6))


def _decoded(net, image: torch.Tensor) -> dict[str, torch.Tensor]:
    deploy = DeployModel(net).eval()
    return deploy.as_dict(deploy(image))


def test_resume_continues_where_it_stopped(tiny_data, tmp_path):
    train(tiny_recipe(*tiny_data, epochs=1), tmp_path, progress=False)
    first = load_checkpoint(tmp_path / "last.pt")
    train(tiny_recipe(*tiny_data, epochs=2), tmp_path, resume=True, progress=False)
    second = load_checkpoint(tmp_path / "last.pt")
    assert first["epoch"] == 0 and second["epoch"] == 1
    assert [h["epoch"] for h in second["train_state"]["history"]] == [1, 2]
    assert second["train_state"]["ema_updates"] == 2 * first["train_state"]["ema_updates"]
    assert not all(torch.equal(second["model"][k], first["model"][k]) for k in first["model"])


def test_learning_rate_warms_up_then_decays():
    assert lr_factor(0, 100, 10) == 0.1 and abs(lr_factor(10, 100, 10) - 1.0) < 1e-9
    assert abs(lr_factor(100, 100, 10) - 0.01) < 1e-9 and lr_factor(50, 100, 10) < lr_factor(20, 100, 10)


def test_a_bf16_run_trains_float32_weights_and_records_its_precision(tiny_data, tmp_path, monkeypatch):
    import mtl_edge.train as training

    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: True)  # emulated where the CPU lacks it: slower, same
    recipe = tiny_recipe(*tiny_data)
    recipe.model.heads["signs"].glimpse.fit_epochs = 0  # no post-fit stage: this test reads last.pt
    train(recipe, tmp_path / "bf16", progress=False, max_steps=2)
    recipe.train.amp = False
    train(recipe, tmp_path / "fp32", progress=False, max_steps=2)
    bf16, fp32 = (load_checkpoint(tmp_path / run / "last.pt") for run in ("bf16", "fp32"))
    assert bf16["train_state"]["history"][-1]["precision"] == "bfloat16 autocast"
    assert fp32["train_state"]["history"][-1]["precision"] == "float32"
    assert all(v.dtype == torch.float32 for v in bf16["model"].values() if v.is_floating_point())
    assert np.isfinite(bf16["train_state"]["history"][-1]["loss"]["loss"])
    # Same seed and data: only the arithmetic differs, so the weights must differ (autocast really ran).
    assert not all(torch.equal(bf16["model"][k], fp32["model"][k]) for k in fp32["model"])


def test_mixed_precision_runs_where_the_hardware_has_it(monkeypatch):
    import mtl_edge.train as training

    for native in (True, False):
        monkeypatch.setattr(training, "cpu_has_native_bf16", lambda native=native: native)
        assert autocast_dtype(torch.device("cpu")) == (torch.bfloat16 if native else None)  # emulated bf16 is slower
    for bf16 in (True, False):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda bf16=bf16: bf16)
        assert autocast_dtype(torch.device("cuda")) == (torch.bfloat16 if bf16 else torch.float16)


def test_native_bf16_is_amx_or_avx512_bf16(monkeypatch):
    """Either instruction set multiplies bfloat16 in hardware; without either, autocast would be emulated."""
    import mtl_edge.train as training

    for amx, avx512_bf16 in [(True, False), (False, True), (False, False)]:
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda amx=amx: amx)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v)
        assert training.cpu_has_native_bf16() == (amx or avx512_bf16)


def test_ddp_two_processes_on_gloo(tiny_data, tmp_path):
    recipe_path = tmp_path / "recipe.yaml"
    dump_recipe(tiny_recipe(*tiny_data, epochs=2), recipe_path)  # 2 steps: DDP checks unused parameters on the 2nd
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "mtl_edge",
        "train",
        str(recipe_path),
        "--out",
        str(tmp_path / "run"),
        "--quiet",
    ]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    # 12 images split over 2 processes, batch 4, last partial batch dropped: 1 step per epoch, not 3.
    assert ckpt["train_state"]["ema_updates"] == 2
    assert "epoch 1: " in done.stdout and done.stdout.count("epoch 1: ") == 1  # only rank 0 reports


def test_every_head_post_fits_once_after_the_schedule_for_its_own_fit_epochs(tiny_data, tmp_path, monkeypatch):
    import mtl_edge.train as training
    from mtl_edge.models.heads.base import Head

    events: list[tuple] = []
    schedule_steps = training.ModelEMA.update

    def step(self, model):
        events.append(("step",))
        return schedule_steps(self, model)

    def post_fit(self, net, loader, seed=0, progress=True):
        name = next(n for n, h in net.heads.items() if h is self)
        glimpse = getattr(getattr(self, "cfg", None), "glimpse", None)
        events.append(("post_fit", name, glimpse.fit_epochs if glimpse is not None and glimpse.size else None))
        return {"called": 1.0}

    monkeypatch.setattr(training.ModelEMA, "update", step)
    for cls in (Head, DetectionHead):
        monkeypatch.setattr(cls, "post_fit", post_fit)
    recipe = tiny_recipe(*tiny_data)
    glimpse = GlimpseConfig(size=8, fit_epochs=5)  # the one setting of a glimpse's post-fit length
    recipe.model.heads["vehicles"] = dataclasses.replace(recipe.model.heads["vehicles"], glimpse=glimpse)
    train(recipe, tmp_path, progress=False, max_steps=2)
    fits = [e for e in events if e[0] == "post_fit"]
    assert events[: -len(fits)] == [("step",)] * 2  # the whole schedule first, then the stages
    assert fits == [
        ("post_fit", "lanes", None),
        ("post_fit", "vehicles", 5),
        ("post_fit", "signs", 2),
        ("post_fit", "drivable", None),
    ]


def test_a_bdd100k_style_val_split_of_images_and_label_files_is_validated(tiny_data, tmp_path, capsys):
    """A val split given as images + label files (BDD100K's layout) has no dataset folder; it is still scored."""
    import dataclasses

    from mtl_edge.checkpoint import load_checkpoint
    from mtl_edge.cli import main
    from tests.conftest import tiny_recipe

    train_dir, val_dir = tiny_data
    recipe = tiny_recipe(train_dir, val_dir)
    recipe.data.val = dataclasses.replace(
        recipe.data.val,
        root=None,
        images=str(val_dir / "images"),
        labels=[str(val_dir / "labels.json")],
        drivable=str(val_dir / "drivable"),
    )
    best = train(recipe, tmp_path / "run", progress=False, max_steps=1)
    metrics = load_checkpoint(best)["metrics"]
    assert set(metrics) == {"lanes", "vehicles", "signs", "drivable"}
    assert main(["eval", str(best), "--n", "3"]) == 0  # the recipe's val split, no --data
    assert "drivable" in capsys.readouterr().out


def test_without_a_val_split_it_says_so_and_keeps_the_last_epoch(tiny_data, tmp_path, capsys):
    from mtl_edge.checkpoint import load_checkpoint
    from tests.conftest import tiny_recipe

    recipe = tiny_recipe(*tiny_data, epochs=2)
    recipe.data.val = None
    recipe.model.heads = {h: c for h, c in recipe.model.heads.items() if h != "signs"}  # no post-fit stage
    best = train(recipe, tmp_path, progress=False)
    out = capsys.readouterr().out
    assert "the recipe has no data.val: no validation, and best.pt will be the last epoch's weights" in out
    assert "best.pt: epoch 2 (the last epoch, as there is no validation split)" in out
    assert load_checkpoint(best)["epoch"] == 1 and load_checkpoint(best)["metrics"] == {}


def test_a_mixture_under_ddp_keeps_its_weights_and_splits_the_draws_between_ranks():
    import torch

    from mtl_edge.train import DistributedWeightedSampler

    weights = torch.cat([torch.full((900,), 0.75 / 900), torch.full((100,), 0.25 / 100)])  # two datasets, 3:1
    ranks = [DistributedWeightedSampler(weights, world=2, rank=r, seed=3) for r in (0, 1)]
    for s in ranks:
        s.set_epoch(4)
    draws = [list(s) for s in ranks]
    assert len(draws[0]) == len(draws[1]) == len(ranks[0]) == 500
    both = torch.tensor(draws[0] + draws[1])
    assert 0.70 < float((both < 900).float().mean()) < 0.80, "the second dataset keeps its quarter share"
    again = DistributedWeightedSampler(weights, world=2, rank=0, seed=3)
    again.set_epoch(4)
    assert list(again) == draws[0], "every process draws the same epoch"
    again.set_epoch(5)
    assert list(again) != draws[0]


def test_the_post_fit_stage_reads_only_samples_that_label_its_head(tiny_data):
    from mtl_edge.config import DataSplit
    from mtl_edge.data.splits import open_split
    from mtl_edge.data.transforms import build_transforms
    from mtl_edge.models.loading import model_from_recipe
    from mtl_edge.train import _post_fit_loader
    from tests.conftest import tiny_recipe

    train_dir, val_dir = tiny_data
    recipe = tiny_recipe(train_dir, val_dir)  # the signs head has a glimpse fitted after the schedule
    split = DataSplit(datasets=[DataSplit(root=str(train_dir)), DataSplit(root=str(val_dir), heads=["lanes"])])
    mixed = open_split(split, "train", build_transforms((128, 224)))
    loader = _post_fit_loader(model_from_recipe(recipe.model), mixed, recipe.train)
    assert len(loader.dataset) == len(mixed.parts[0]) < len(mixed), "the lanes-only dataset is left out"


def test_cached_samples_are_augmented_then_clipped_like_uncached_ones(tiny_data):
    import torch

    from mtl_edge.data.splits import open_folder
    from mtl_edge.data.transforms import build_augment, build_transforms, points_inside
    from mtl_edge.train import CachedDataset

    base = open_folder(tiny_data[0], transforms=build_transforms((128, 224)))
    cached = CachedDataset(base, build_augment(hflip=True), progress=False)
    torch.manual_seed(0)
    for i in range(len(cached)):
        _, target = cached[i]
        lanes, valid = target["lanes"], target["lane_valid"]
        assert bool(points_inside(lanes)[valid].all()), "every lane vertex left is on the augmented canvas"
        assert bool((valid.sum(1) != 1).all()), "a lane is a polyline of 2+ points, or gone"
