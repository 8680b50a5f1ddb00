"""Workload W5: one spike-driven transformer block (SDSA-V1 attention + spiking MLP), forward + backward.

* :class:`SJBlock` is ``MS_Block_Conv`` of the official Spike-Driven Transformer code (``module/ms_conv.py``:
  ``MS_SSA_Conv`` then ``MS_MLP_Conv``, see PAPERS.md §1.2) built the way that code builds it: 1x1
  ``Conv2d`` + ``BatchNorm2d`` on ``(T*B, C, H, W)`` and SpikingJelly multi-step LIF nodes
  (``tau=2``, detached reset, sigmoid surrogate; the talking-heads node has threshold 0.5; the
  ``talking_heads`` conv is constructed and unused, as there).
* :class:`TokenBlock` is the same maths in token-major layout ``(T, B, N, C)``: 1x1 convolutions are
  linear layers over ``C`` and ``BatchNorm2d`` over ``(T*B, C, H, W)`` is ``BatchNorm1d`` over
  ``(T*B*N, C)``. neuro's version uses :class:`neuro.LIF` (fused kernels),
  :class:`~neuro.layers.EventLinear` (every linear input here is a spike tensor) and, where a
  BatchNorm feeds a neuron (q, k, v and the MLP's hidden layer), :class:`~neuro.layers.BatchNormNeuron`
  (the normalisation folded into the neuron's kernels), and computes q, k and v with
  :func:`~neuro.layers.shared_input` (their common input spikes compressed once); the plain-torch
  version uses ``nn.Linear`` and a hand-written LIF loop. This standalone block (not the model zoo's
  :mod:`neuro.layers.spike_attention`) keeps the token-major neuro and torch versions identical but for
  their neurons and linear layers; :mod:`neuro.bench.meta` times the model zoo's Meta-SpikeFormer.

SDSA-V1: ``kv = LIF_0.5(sum_tokens(k * v))`` per channel, ``x = q * kv``, then projection, with
membrane shortcuts (residual adds of the un-spiked stream) around attention and MLP.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from neuro.bench.peers import neuron
from neuro.bench.workloads import Case

__all__ = ["SJBlock", "TokenBlock", "sdsa"]

_LIFS = ("shortcut", "q", "k", "v", "kv", "fc1", "fc2")


def _w5_neuron(impl: str, threshold: float = 1.0) -> Callable[[Tensor], Tensor]:
    return neuron(impl, tau=2.0, decay_input=True, surrogate="sigmoid", threshold=threshold)


class SJBlock(nn.Module):
    """The official ``MS_Block_Conv`` with SpikingJelly LIF nodes (see the module docstring)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4) -> None:
        super().__init__()
        from spikingjelly.activation_based.neuron import LIFNode

        def lif(th: float = 1.0) -> nn.Module:
            return LIFNode(tau=2.0, v_threshold=th, detach_reset=True, step_mode="m")

        hidden = dim * mlp_ratio
        self.heads = heads
        self.shortcut_lif = lif()
        self.q_conv, self.q_bn, self.q_lif = nn.Conv2d(dim, dim, 1, bias=False), nn.BatchNorm2d(dim), lif()
        self.k_conv, self.k_bn, self.k_lif = nn.Conv2d(dim, dim, 1, bias=False), nn.BatchNorm2d(dim), lif()
        self.v_conv, self.v_bn, self.v_lif = nn.Conv2d(dim, dim, 1, bias=False), nn.BatchNorm2d(dim), lif()
        self.talking_heads = nn.Conv1d(heads, heads, 1, bias=False)  # unused in forward, as in the official code
        self.talking_heads_lif = lif(0.5)
        self.proj_conv, self.proj_bn = nn.Conv2d(dim, dim, 1), nn.BatchNorm2d(dim)
        self.fc1_lif, self.fc1_conv, self.fc1_bn = lif(), nn.Conv2d(dim, hidden, 1), nn.BatchNorm2d(hidden)
        self.fc2_lif, self.fc2_conv, self.fc2_bn = lif(), nn.Conv2d(hidden, dim, 1), nn.BatchNorm2d(dim)

    def _heads(self, s: Tensor, t: int, b: int, c: int, n: int) -> Tensor:
        return s.flatten(3).transpose(-1, -2).reshape(t, b, n, self.heads, c // self.heads).permute(0, 1, 3, 2, 4)

    def forward(self, x: Tensor, record: dict[str, Tensor] | None = None) -> Tensor:
        t, b, c, h, w = x.shape
        n = h * w
        rec = {} if record is None else record
        from spikingjelly.activation_based import functional

        functional.reset_net(self)
        identity = x
        x = self.shortcut_lif(x)
        rec["shortcut"] = x
        flat = x.flatten(0, 1)
        q = self.q_lif(self.q_bn(self.q_conv(flat)).reshape(t, b, c, h, w))
        k = self.k_lif(self.k_bn(self.k_conv(flat)).reshape(t, b, c, h, w))
        v = self.v_lif(self.v_bn(self.v_conv(flat)).reshape(t, b, c, h, w))
        rec["q"], rec["k"], rec["v"] = q, k, v
        q, k, v = (self._heads(s, t, b, c, n) for s in (q, k, v))  # (T, B, heads, N, C/heads)
        kv = self.talking_heads_lif(k.mul(v).sum(dim=-2, keepdim=True))
        rec["kv"] = kv
        x = q.mul(kv).transpose(3, 4).reshape(t, b, c, h, w)
        x = self.proj_bn(self.proj_conv(x.flatten(0, 1))).reshape(t, b, c, h, w) + identity
        identity = x
        y = self.fc1_lif(x)
        rec["fc1"] = y
        y = self.fc1_bn(self.fc1_conv(y.flatten(0, 1))).reshape(t, b, -1, h, w)
        y = self.fc2_lif(y)
        rec["fc2"] = y
        return self.fc2_bn(self.fc2_conv(y.flatten(0, 1))).reshape(t, b, c, h, w) + identity


class TokenBlock(nn.Module):
    """The same block on ``(T, B, N, C)`` tokens with a pluggable neuron and linear layer."""

    def __init__(self, dim: int, heads: int, impl: str, mlp_ratio: int = 4) -> None:
        super().__init__()
        if impl == "neuro":
            from neuro.layers import EventLinear as linear
        else:
            linear = nn.Linear
        hidden = dim * mlp_ratio
        self.heads = heads
        self.lif = {name: _w5_neuron(impl, 0.5 if name == "kv" else 1.0) for name in _LIFS}
        self.q, self.k, self.v = (linear(dim, dim, bias=False) for _ in range(3))
        self.q_bn, self.k_bn, self.v_bn = nn.BatchNorm1d(dim), nn.BatchNorm1d(dim), nn.BatchNorm1d(dim)
        self.proj, self.proj_bn = linear(dim, dim), nn.BatchNorm1d(dim)
        self.fc1, self.fc1_bn = linear(dim, hidden), nn.BatchNorm1d(hidden)
        self.fc2, self.fc2_bn = linear(hidden, dim), nn.BatchNorm1d(dim)
        self.fused: dict[str, nn.Module] = {}  # neuron name -> BatchNorm + neuron as one module (neuro only)
        self.share_qkv = impl == "neuro"
        if impl == "neuro":
            from neuro import LIF
            from neuro.layers import BatchNormNeuron

            for name, bn in (("q", self.q_bn), ("k", self.k_bn), ("v", self.v_bn), ("fc2", self.fc1_bn)):
                lif = LIF(tau_mem=2e-3, dt=1e-3, decay_input=True, reset="hard", detach_reset=True,
                          surrogate="sigmoid")  # _w5_neuron's node
                self.fused[name] = BatchNormNeuron(bn, lif, channels_last=True)

    @staticmethod
    def _syn(linear: nn.Module, bn: nn.Module, s: Tensor) -> Tensor:
        flat = s.reshape(-1, s.shape[-1])  # (T*B*N, C): a 1x1 conv and its BatchNorm2d
        return bn(linear(flat)).reshape(*s.shape[:-1], -1)

    def _spikes(self, name: str, linear: nn.Module, bn: nn.Module, s: Tensor) -> Tensor:
        """``lif[name](bn(linear(s)))``."""
        return self._neuron(name, bn, linear(s.reshape(-1, s.shape[-1])), s.shape[:-1])

    def _neuron(self, name: str, bn: nn.Module, z: Tensor, lead: torch.Size) -> Tensor:
        """``lif[name](bn(z))`` of a linear layer's ``(T*B*N, C)`` output, as ``(*lead, C)`` spikes."""
        if name in self.fused:
            return self.fused[name](z.reshape(*lead, -1))[0]
        return self.lif[name](bn(z).reshape(*lead, -1))

    def forward(self, x: Tensor, record: dict[str, Tensor] | None = None) -> Tensor:
        rec = {} if record is None else record
        s = self.lif["shortcut"](x)  # x: (T, B, N, C)
        if self.share_qkv:  # neuro: q, k and v read the same spikes, compressed once for the three
            from neuro.layers import shared_input

            zs = shared_input(s.reshape(-1, s.shape[-1]), [self.q, self.k, self.v])
            q, k, v = (self._neuron(name, bn, z, s.shape[:-1])
                       for name, bn, z in zip("qkv", (self.q_bn, self.k_bn, self.v_bn), zs, strict=True))
        else:
            q = self._spikes("q", self.q, self.q_bn, s)
            k = self._spikes("k", self.k, self.k_bn, s)
            v = self._spikes("v", self.v, self.v_bn, s)
        kv = self.lif["kv"]((k * v).sum(dim=2, keepdim=True))  # (T, B, 1, C): per channel, over tokens
        rec.update(shortcut=s, q=q, k=k, v=v, kv=kv)
        x = self._syn(self.proj, self.proj_bn, q * kv) + x
        y = self.lif["fc1"](x)
        rec["fc1"] = y
        y = self._spikes("fc2", self.fc1, self.fc1_bn, y)
        rec["fc2"] = y
        return self._syn(self.fc2, self.fc2_bn, y) + x


def _to_sj_layout(tok_tensor: Tensor, h: int) -> Tensor:
    t, b, n, c = tok_tensor.shape
    return tok_tensor.transpose(2, 3).reshape(t, b, c, h, n // h)


def _sj_to_tokens(s: Tensor) -> Tensor:
    """SJ-layout spikes ``(T, B, C, H, W)`` or heads ``(T, B, heads, 1, d)`` in token layout."""
    if s.dim() == 5 and s.shape[3] == 1:
        return s.permute(0, 1, 3, 2, 4).flatten(3)  # (T, B, 1, C)
    return s.flatten(3).transpose(2, 3)


def sdsa(impl: str, size: dict[str, int], dtype: torch.dtype, seed: int = 0, device: str = "cpu") -> Case:
    """W5 in one implementation (``"spikingjelly"``, ``"neuro"`` or ``"torch"``): forward + backward."""
    t, b, dim, heads, hw = size["T"], size["B"], size["dim"], size["heads"], size["hw"]
    torch.manual_seed(seed)
    reference = SJBlock(dim, heads) if impl == "spikingjelly" else None
    g = torch.Generator().manual_seed(seed)
    weights = {name: torch.randn(shape, generator=g, dtype=torch.float64) / shape[1] ** 0.5
               for name, shape in (("q", (dim, dim)), ("k", (dim, dim)), ("v", (dim, dim)), ("proj", (dim, dim)),
                                   ("fc1", (4 * dim, dim)), ("fc2", (dim, 4 * dim)))}
    tokens = (torch.randn(t, b, hw * hw, dim, generator=g, dtype=torch.float64) * 1.5 + 0.8).to(device, dtype)
    grad = torch.randn(t, b, hw * hw, dim, generator=g, dtype=torch.float64).to(device, dtype)
    if reference is not None:
        block: nn.Module = reference.to(device, dtype)
        with torch.no_grad():
            for name, w in weights.items():
                getattr(block, f"{name}_conv").weight.copy_(w.reshape(*w.shape, 1, 1))
        x = _to_sj_layout(tokens, hw).contiguous()
        g_out = _to_sj_layout(grad, hw).contiguous()
    else:
        block = TokenBlock(dim, heads, impl).to(device, dtype)
        with torch.no_grad():
            for name, w in weights.items():
                getattr(block, name).weight.copy_(w)
        x, g_out = tokens, grad
    leaf = x.clone().requires_grad_()

    def step() -> None:
        block.zero_grad(set_to_none=True)
        leaf.grad = None
        block(leaf).backward(g_out)

    def spikes() -> dict[str, Tensor]:
        rec: dict[str, Tensor] = {}
        with torch.no_grad():
            block(x, rec)
        if reference is not None:
            rec = {k: _sj_to_tokens(v) for k, v in rec.items()}
        return {k: v.detach() for k, v in rec.items()}

    return Case(step, spikes)
