"""Every head learns (its loss falls when overfitting a tiny batch), and partial labels
leave unsupervised heads untouched (zero gradient)."""

from __future__ import annotations

import torch

from mtl_edge.data.dataset import HEADS as DATASET_HEADS
from mtl_edge.losses import MultiTaskLoss
from mtl_edge.models.network import normalize


def test_each_head_loss_falls_when_overfitting_a_tiny_batch(tiny_batch, small_net):
    images, targets = tiny_batch
    crit = MultiTaskLoss(list(small_net.heads), DATASET_HEADS)
    opt = torch.optim.AdamW(small_net.parameters(), lr=3e-3)
    small_net.train()
    first = last = None
    for _ in range(40):
        out = crit(small_net, small_net(normalize(images)), targets)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses = {h: float(out[h]) for h in small_net.heads}
        first = first or losses
        last = losses
    for head in small_net.heads:
        assert last[head] < 0.6 * first[head], (head, first[head], last[head])


def test_unsupervised_heads_get_exactly_zero_gradient(tiny_batch, small_net):
    images, targets = tiny_batch
    targets = dict(targets)
    sup = targets["supervises"].clone()
    sup[:, DATASET_HEADS.index("signs")] = False  # a batch without sign labels
    sup[:, DATASET_HEADS.index("lanes")] = torch.tensor([True, False, False, False])  # one lane-labelled sample
    targets["supervises"] = sup
    crit = MultiTaskLoss(list(small_net.heads), DATASET_HEADS)
    small_net.train()
    out = crit(small_net, small_net(normalize(images)), targets)
    out["loss"].backward()
    sign_grads = [p.grad for p in small_net.heads["signs"].parameters()]
    assert all(g is None or g.abs().max() == 0 for g in sign_grads)
    assert float(out["signs"]) == 0.0
    assert any(p.grad is not None and p.grad.abs().max() > 0 for p in small_net.heads["lanes"].parameters())

    # The lanes gradient comes from sample 0 alone: it equals the gradient of that sample run by itself.
    column = DATASET_HEADS.index("lanes")

    def lanes_grad(imgs, tg):
        small_net.zero_grad()
        raw = small_net(normalize(imgs))["lanes"]
        small_net.heads["lanes"].loss(raw, tg, tg["supervises"][:, column])["loss"].backward()
        return small_net.heads["lanes"].location.weight.grad.clone()

    small_net.eval()  # fixed BN statistics, so samples do not interact through the batch
    full = lanes_grad(images, targets)
    one = {
        k: (v[:1] if torch.is_tensor(v) and v.shape[:1] == (4,) else v[:1] if isinstance(v, list) else v)
        for k, v in targets.items()
    }
    assert torch.allclose(full, lanes_grad(images[:1], one), atol=1e-5)
