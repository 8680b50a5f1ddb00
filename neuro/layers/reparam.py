r"""Re-parameterisable convolutions and BN folding, as used by the spike-driven transformers.

Every conv in those models is followed by BatchNorm, and Meta-SpikeFormer's Q/K/V and projection
convs are *RepConv* blocks (1×1 conv → BN that pads with its own bias → depthwise 3×3 → 1×1 conv →
BN). At inference all of these are linear maps of the (zero-padded) input, so each collapses into one
convolution with bias. With BN in eval mode (scale :math:`s = \gamma/\sqrt{\sigma^2+\epsilon}`,
shift :math:`t = \beta - \mu s`) a conv ``(W, b)`` followed by BN becomes

.. math::

    W' = s \cdot W,\qquad b' = s\,b + t .

Modules here that can collapse define ``fuse() -> nn.Module`` returning the single equivalent
conv; :func:`reparameterize` swaps them throughout a model (a copy, in eval mode).

Example:
    >>> import torch
    >>> block = ConvBN(torch.nn.Conv2d(4, 8, 3, padding=1, bias=False), torch.nn.BatchNorm2d(8)).eval()
    >>> x = torch.randn(2, 4, 6, 6)
    >>> torch.allclose(block(x), block.fuse()(x), atol=1e-5)
    True
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BNAndPad", "ConvBN", "DepthwisePointwise", "RepConv", "fold_bn", "reparameterize"]


def _bn_affine(bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """Eval-mode BN as ``(scale, shift)``: ``bn(y) = scale * y + shift`` per channel."""
    std = torch.sqrt(bn.running_var + bn.eps)
    weight = bn.weight if bn.affine else torch.ones_like(std)
    bias = bn.bias if bn.affine else torch.zeros_like(std)
    scale = weight / std
    return scale, bias - bn.running_mean * scale


def fold_bn(weight: Tensor, bias: Tensor | None, bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """Fold eval-mode ``bn`` into the conv ``(weight, bias)`` that precedes it."""
    scale, shift = _bn_affine(bn)
    b = torch.zeros_like(scale) if bias is None else bias
    return weight * scale.reshape(-1, *([1] * (weight.dim() - 1))), b * scale + shift


def _conv(weight: Tensor, bias: Tensor, like: nn.Conv2d | None = None, padding: int | None = None) -> nn.Conv2d:
    """A dense ``Conv2d`` holding ``weight`` and ``bias`` (stride/padding copied from ``like``)."""
    out_c, in_c, kh, kw = weight.shape
    conv = nn.Conv2d(in_c, out_c, (kh, kw), stride=like.stride if like is not None else 1,
                     padding=padding if padding is not None else like.padding, bias=True).to(weight)
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    return conv


class ConvBN(nn.Module):
    """A convolution (plain ``Conv2d`` or a :class:`RepConv` / :class:`DepthwisePointwise`) then BatchNorm.

    Input ``(N, C_in, H, W)``; wrap it in :class:`~neuro.core.time_distributed.TimeDistributed` for
    ``(T, B, C, H, W)``.
    """

    def __init__(self, conv: nn.Module, bn: nn.BatchNorm2d) -> None:
        super().__init__()
        self.conv = conv
        self.bn = bn

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))

    def fuse(self, merge_separable: bool = True) -> nn.Module:
        """One ``Conv2d`` with bias equal to this block in eval mode.

        A :class:`DepthwisePointwise` conv with ``merge_separable=False`` stays a depthwise conv
        followed by a pointwise conv that absorbs the BN.
        """
        if isinstance(self.conv, DepthwisePointwise) and not merge_separable:
            weight, bias = fold_bn(self.conv.pw.weight, None, self.bn)
            return nn.Sequential(copy.deepcopy(self.conv.dw), _conv(weight.detach(), bias.detach(), like=self.conv.pw))
        conv = self.conv.fuse() if hasattr(self.conv, "fuse") else self.conv
        if not isinstance(conv, nn.Conv2d) or conv.groups != 1:
            raise TypeError(f"ConvBN.fuse: cannot fold BN into {type(conv).__name__} (groups must be 1)")
        weight, bias = fold_bn(conv.weight, conv.bias, self.bn)
        return _conv(weight.detach(), bias.detach(), like=conv)


class BNAndPad(nn.Module):
    r"""BatchNorm whose output is padded by ``pad`` pixels filled with BN's response to zero input.

    The pad value per channel is :math:`\beta - \mu\gamma/\sqrt{\sigma^2+\epsilon}` from the running
    statistics (detached, also in training mode, as in the official Meta-SpikeFormer code). In eval
    mode ``BNAndPad(y)`` therefore equals BN applied to ``y`` computed on a zero-padded input.
    """

    def __init__(self, num_features: int, pad: int = 1) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features)
        self.pad = int(pad)

    def forward(self, x: Tensor) -> Tensor:
        y = self.bn(x)
        if self.pad <= 0:
            return y
        with torch.no_grad():
            fill = _bn_affine(self.bn)[1].reshape(1, -1, 1, 1)
        return F.pad(y - fill, [self.pad] * 4) + fill  # border = fill, interior = y

    def extra_repr(self) -> str:
        return f"pad={self.pad}"


class RepConv(nn.Module):
    """Meta-SpikeFormer's re-parameterisable conv: 1×1 → BNAndPad(1) → depthwise 3×3 → 1×1 → BN.

    No biases. Equivalent at inference to one 3×3 conv (padding 1) with bias; see :meth:`fuse`.
    Shape: ``(N, C_in, H, W) -> (N, C_out, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.pw1 = nn.Conv2d(in_channels, in_channels, 1, bias=False)
        self.bn_pad = BNAndPad(in_channels, pad=1)
        self.dw = nn.Conv2d(in_channels, in_channels, 3, groups=in_channels, bias=False)
        self.pw2 = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.pw2(self.dw(self.bn_pad(self.pw1(x)))))

    def fuse(self) -> nn.Conv2d:
        """The equivalent 3×3 conv (eval mode)."""
        w1, b1 = fold_bn(self.pw1.weight[:, :, 0, 0], None, self.bn_pad.bn)  # (C, C_in), (C,)
        dw = self.dw.weight[:, 0]  # (C, 3, 3)
        w2 = self.pw2.weight[:, :, 0, 0]  # (C_out, C)
        weight = torch.einsum("oc,ckl,ci->oikl", w2, dw, w1)  # (C_out, C_in, 3, 3)
        bias = w2 @ (b1 * dw.sum((1, 2)))  # pad/interior both see BN(0) = b1 through every tap
        weight, bias = fold_bn(weight, bias, self.bn)
        return _conv(weight.detach(), bias.detach(), padding=1)


class DepthwisePointwise(nn.Module):
    """Depthwise k×k conv then pointwise 1×1 conv, no bias and no neuron between them.

    This is the tail of Meta-SpikeFormer's SepConv; :meth:`fuse` merges the pair into one dense
    k×k conv, the form the papers' energy convention counts. Shape ``(N, C, H, W) -> (N, C_out, H, W)``.
    """

    def __init__(self, channels: int, out_channels: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.dw = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels, bias=False)
        self.pw = nn.Conv2d(channels, out_channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.pw(self.dw(x))

    def fuse(self) -> nn.Conv2d:
        weight = self.pw.weight[:, :, 0, 0, None, None] * self.dw.weight[None, :, 0]  # (C_out, C, k, k)
        return _conv(weight.detach(), torch.zeros(weight.shape[0], device=weight.device), like=self.dw)


def reparameterize(model: nn.Module, *, merge_separable: bool = False) -> nn.Module:
    """An inference copy of ``model`` with every :class:`ConvBN` and :class:`RepConv` folded to one conv.

    The copy is put in eval mode (folding uses BN's running statistics); ``model`` is untouched.
    With ``merge_separable`` the depthwise/pointwise pairs are merged into dense convs as well (more
    weights and FLOPs; the form the papers count energy on). Outputs equal the original's in eval mode.
    """
    out = copy.deepcopy(model).eval()

    def swap(parent: nn.Module) -> None:
        for name, child in parent.named_children():
            if isinstance(child, ConvBN):
                setattr(parent, name, child.fuse(merge_separable))
            elif isinstance(child, RepConv) or (merge_separable and isinstance(child, DepthwisePointwise)):
                setattr(parent, name, child.fuse())
            else:
                swap(child)

    with torch.no_grad():
        swap(out)
    return out

