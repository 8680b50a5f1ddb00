r"""LAMB (You et al., ICLR 2020), in the NVLAMB form the spike-driven transformers train with.

Per parameter tensor :math:`w` with gradient :math:`g` (after global gradient-norm clipping, ``g /
max(1, ‖G‖ / max_grad_norm)`` over all parameters):

.. math::

    m \leftarrow \beta_1 m + (1-\beta_1) g,\quad v \leftarrow \beta_2 v + (1-\beta_2) g^2,\quad
    u = \frac{m / (1-\beta_1^t)}{\sqrt{v / (1-\beta_2^t)} + \epsilon} + \lambda w,\quad
    w \leftarrow w - \eta\, r\, u,\quad r = \frac{\lVert w\rVert}{\lVert u\rVert}

with the trust ratio :math:`r = 1` when either norm is zero, clipped at 1 with ``trust_clip``
(LAMBC, Meta-SpikeFormer's setting), and applied only to tensors with weight decay unless
``always_adapt``. These are the semantics of timm's ``Lamb``, which the official code uses; timm is
not a dependency here (it pulls in torchvision), and ``torch.optim`` has no LAMB. With
``weight_decay = 0`` and no clipping the update is exactly Adam's.

:func:`lamb_param_groups` puts biases and norm weights (tensors with fewer than 2 dimensions) in a
group without weight decay, as timm's ``create_optimizer`` and Meta-SpikeFormer's ``param_groups_lrd`` do.

Example:
    >>> import torch
    >>> w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    >>> opt = Lamb([w], lr=0.1, weight_decay=0.0, always_adapt=True)
    >>> w.grad = torch.tensor([1.0, 1.0]); opt.step()
    >>> [round(x, 4) for x in w.tolist()]      # u = (1, 1), r = 5 / sqrt(2): w - 0.1 * 3.5355
    [2.6464, 3.6464]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = ["Lamb", "lamb", "lamb_param_groups", "lambc"]


class Lamb(torch.optim.Optimizer):
    """The LAMB optimiser; see the module docstring for the update."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0.01, max_grad_norm: float | None = 1.0,
                 trust_clip: bool = False, always_adapt: bool = False) -> None:
        if not lr >= 0 or not eps >= 0 or not weight_decay >= 0:
            raise ValueError(f"Lamb: lr, eps and weight_decay must be >= 0, got {lr}, {eps}, {weight_decay}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"Lamb: betas must be in [0, 1), got {betas}")
        if max_grad_norm is not None and not max_grad_norm > 0:
            raise ValueError(f"Lamb: max_grad_norm must be > 0 or None, got {max_grad_norm}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, trust_clip=trust_clip,
                        always_adapt=always_adapt)
        super().__init__(params, defaults)
        self.max_grad_norm = max_grad_norm

    def _clip_divisor(self) -> Tensor | None:
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        if self.max_grad_norm is None or not grads:
            return None
        total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        return (total / self.max_grad_norm).clamp(min=1.0)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        divisor = self._clip_divisor()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("Lamb does not support sparse gradients")
                grad = p.grad if divisor is None else p.grad / divisor
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                update = (m / (1 - beta1 ** t)) / ((v / (1 - beta2 ** t)).sqrt() + group["eps"])
                if group["weight_decay"]:
                    update.add_(p, alpha=group["weight_decay"])
                if group["weight_decay"] or group["always_adapt"]:
                    w_norm, u_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(update)
                    ratio = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
                    if group["trust_clip"]:
                        ratio = ratio.clamp(max=1.0)
                    update.mul_(ratio)
                p.add_(update, alpha=-group["lr"])
        return loss


def lamb_param_groups(params: Iterable[Any], weight_decay: float) -> list[dict[str, Any]]:
    """Two groups: tensors with >= 2 dims get ``weight_decay``; biases and norm weights get none."""
    params = [p for p in params if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    return [g for g in ({"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0})
            if g["params"]]



def lamb(params: Iterable[Any], lr: float, weight_decay: float, momentum: float) -> Lamb:
    """``OPTIMIZERS["lamb"]``: timm's default LAMB (V1 recipe), no decay on biases and norm weights."""
    return Lamb(lamb_param_groups(params, weight_decay), lr=lr, weight_decay=weight_decay)


def lambc(params: Iterable[Any], lr: float, weight_decay: float, momentum: float) -> Lamb:
    """``OPTIMIZERS["lambc"]``: LAMB with the trust ratio clipped at 1 (Meta-SpikeFormer's ``trust_clip=True``)."""
    return Lamb(lamb_param_groups(params, weight_decay), lr=lr, weight_decay=weight_decay, trust_clip=True)
