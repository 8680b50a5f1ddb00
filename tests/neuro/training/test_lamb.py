"""LAMB: golden first step, Adam equivalence without decay, global clipping, trust clip, groups."""

from __future__ import annotations

import math

import pytest
import torch

from neuro.training import build_optimizer
from neuro.training.lamb import Lamb, lamb_param_groups


def test_first_step_golden_with_weight_decay_and_trust_ratio():
    w = torch.nn.Parameter(torch.tensor([3.0, 4.0], dtype=torch.float64))
    opt = Lamb([w], lr=0.1, weight_decay=0.5, eps=0.0, max_grad_norm=None)
    w.grad = torch.tensor([2.0, -2.0], dtype=torch.float64)
    opt.step()
    # m_hat = g, v_hat = g^2 -> adam part sign(g) = (1, -1); + 0.5 w = (2.5, 1.0)
    u = torch.tensor([2.5, 1.0], dtype=torch.float64)
    r = 5.0 / math.sqrt(2.5**2 + 1.0)
    torch.testing.assert_close(w.detach(), torch.tensor([3.0, 4.0], dtype=torch.float64) - 0.1 * r * u)


def test_trust_clip_caps_the_ratio_at_one():
    w = torch.nn.Parameter(torch.tensor([30.0, 40.0]))
    opt = Lamb([w], lr=0.1, weight_decay=1e-6, eps=0.0, max_grad_norm=None, trust_clip=True)
    w.grad = torch.tensor([1.0, 1.0])
    opt.step()
    u = torch.tensor([1.0, 1.0]) + 1e-6 * torch.tensor([30.0, 40.0])
    torch.testing.assert_close(w.detach(), torch.tensor([30.0, 40.0]) - 0.1 * u)  # ratio 50/1.41 clipped to 1


def test_without_decay_or_clipping_it_is_adam():
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(5, 3, dtype=torch.float64))
    b = torch.nn.Parameter(a.detach().clone())
    lamb = Lamb([a], lr=1e-2, weight_decay=0.0, max_grad_norm=None, eps=1e-8)
    adam = torch.optim.Adam([b], lr=1e-2, eps=1e-8)
    for _ in range(5):
        g = torch.randn(5, 3, dtype=torch.float64)
        a.grad, b.grad = g.clone(), g.clone()
        lamb.step()
        adam.step()
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_global_gradient_clipping_divides_by_the_total_norm():
    torch.manual_seed(1)
    p1 = [torch.nn.Parameter(torch.randn(shape, dtype=torch.float64)) for shape in ((4, 2), (3,))]
    p2 = [torch.nn.Parameter(p.detach().clone()) for p in p1]
    clipped = Lamb(p1, lr=0.05, weight_decay=0.1, max_grad_norm=1.0)
    manual = Lamb(p2, lr=0.05, weight_decay=0.1, max_grad_norm=None)
    for _ in range(3):
        grads = [torch.randn_like(p) * 10 for p in p1]
        total = torch.sqrt(sum(g.square().sum() for g in grads))
        for p, q, g in zip(p1, p2, grads, strict=True):
            p.grad, q.grad = g.clone(), g / total
        clipped.step()
        manual.step()
    for p, q in zip(p1, p2, strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-12)


def test_param_groups_exempt_biases_and_norm_weights():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    decay, no_decay = lamb_param_groups(net.parameters(), 0.05)
    assert [p.shape for p in decay["params"]] == [(4, 3)] and decay["weight_decay"] == 0.05
    assert len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0


@pytest.mark.parametrize(("name", "clip"), [("lamb", False), ("lambc", True)])
def test_registry_names(name, clip):
    opt = build_optimizer(name, torch.nn.Linear(3, 2).parameters(), lr=1e-3, weight_decay=0.02)
    assert isinstance(opt, Lamb) and all(g["trust_clip"] is clip for g in opt.param_groups)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.02, 0.0]


def test_bad_arguments():
    with pytest.raises(ValueError, match="betas"):
        Lamb([torch.nn.Parameter(torch.zeros(1))], betas=(1.0, 0.9))
