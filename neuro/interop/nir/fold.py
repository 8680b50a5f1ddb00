r"""Fold inference-mode batch normalisation into the preceding convolution or linear layer.

NIR has no batch norm, but at inference BN is an affine map per channel,
:math:`y = \gamma\,(x - \mu)/\sqrt{\sigma^2 + \epsilon} + \beta`, so ``BN(conv(x))`` equals a
convolution with weights :math:`W\gamma/\sqrt{\sigma^2+\epsilon}` and bias
:math:`(b - \mu)\gamma/\sqrt{\sigma^2+\epsilon} + \beta` (``torch.nn.utils.fusion``, computed here
in float64 and cast back). The BN is replaced by ``nn.Identity`` so that layer indices, and with
them the names of recorded neurons, do not move. Pairs are found in ``Sequential`` containers,
including through the :class:`~neuro.core.TimeDistributed` wrappers ``neuro.Sequential`` inserts; the
batch norm of a :class:`~neuro.layers.BatchNormNeuron` right after its convolution or linear layer is
folded too (its ``norm`` becomes ``nn.Identity``: the module is then its neuron alone).

Example:
    >>> import torch
    >>> from neuro import LIF, Sequential
    >>> net = Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.BatchNorm2d(4), LIF()).eval()
    >>> result = fold_batchnorm(net)
    >>> result.folded, type(result.model[1].module).__name__
    ((('1', '0'),), 'Identity')
"""

from __future__ import annotations

import copy
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

from neuro.core.time_distributed import TimeDistributed
from neuro.interop.nir.errors import Problem
from neuro.layers.norm_neuron import BatchNormNeuron

__all__ = ["Folded", "fold_batchnorm"]

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_PARTNER = {nn.BatchNorm1d: (nn.Conv1d, nn.Linear), nn.BatchNorm2d: (nn.Conv2d,), nn.BatchNorm3d: (nn.Conv3d,)}


class Folded(NamedTuple):
    """Result of :func:`fold_batchnorm`: the new model, ``(bn_path, into_path)`` pairs, and the BNs left."""

    model: nn.Module
    folded: tuple[tuple[str, str], ...]
    unfoldable: tuple[Problem, ...]


def _unwrap(m: nn.Module) -> nn.Module:
    return m.module if isinstance(m, TimeDistributed) else m


def _rewrap(like: nn.Module, m: nn.Module) -> nn.Module:
    return TimeDistributed(m) if isinstance(like, TimeDistributed) else m


def _fuse(layer: nn.Module, bn: nn.Module) -> nn.Module:
    dtype = layer.weight.dtype
    layer64, bn64 = copy.deepcopy(layer).double().eval(), copy.deepcopy(bn).double().eval()
    fused = fuse_linear_bn_eval(layer64, bn64) if isinstance(layer, nn.Linear) else fuse_conv_bn_eval(layer64, bn64)
    return fused.to(dtype)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def fold_batchnorm(model: nn.Module) -> Folded:
    """A copy of ``model`` (in eval mode) with every ``Conv/Linear -> BatchNorm`` pair fused.

    BatchNorm layers that cannot be folded (not directly after a matching Conv/Linear, or without
    running statistics) stay in the model and are listed in ``unfoldable`` with the reason.
    """
    model = copy.deepcopy(model).eval()
    folded: list[tuple[str, str]] = []
    with torch.no_grad():
        for prefix, container in model.named_modules():
            if not isinstance(container, nn.Sequential):
                continue
            for i in range(1, len(container)):
                prev, bn = _unwrap(container[i - 1]), _unwrap(container[i])
                owner = bn if isinstance(bn, BatchNormNeuron) else None  # a BatchNorm inside a BatchNormNeuron
                bn = bn.norm if owner is not None else bn
                if not isinstance(bn, _BN) or not isinstance(prev, _PARTNER[type(bn)]):
                    continue
                if bn.running_mean is None or bn.running_var is None:
                    continue
                container[i - 1] = _rewrap(container[i - 1], _fuse(prev, bn))
                if owner is not None:
                    owner.norm = nn.Identity()  # the BatchNormNeuron is its neuron alone now
                    folded.append((_join(prefix, f"{i}.norm"), _join(prefix, str(i - 1))))
                    continue
                container[i] = _rewrap(container[i], nn.Identity())
                folded.append((_join(prefix, str(i)), _join(prefix, str(i - 1))))
    left = []
    for path, m in model.named_modules():
        if not isinstance(m, _BN):
            continue
        reason = ("uses batch statistics at inference (track_running_stats=False)" if m.running_mean is None
                  else f"does not directly follow a {' or '.join(c.__name__ for c in _PARTNER[type(m)])} "
                  "inside a Sequential")
        shown = path.removesuffix(".module") if path.endswith(".module") else path  # the TimeDistributed's path
        left.append(Problem(shown, type(m).__name__, f"cannot be folded: it {reason}",
                            "place it right after its Conv/Linear (with running statistics), or remove it"))
    return Folded(model, tuple(folded), tuple(left))
