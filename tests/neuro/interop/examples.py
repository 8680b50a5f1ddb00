"""Examples for every entry of the NIR tables (tests enumerate the tables and fail when one is missing)."""

from __future__ import annotations

from collections.abc import Callable

import nir
import numpy as np
import torch
from torch import nn

from neuro import IF, LI, LIF, PLIF, CubaLIF, CubaLIFCell, IFCell, LICell, LIFCell, PLIFCell
from neuro.interop.nir import Delay, DelayCell, Scale, Threshold
from neuro.layers import EventConv2d, EventLinear

_rng = np.random.default_rng(7)


def _pos(n: int, lo: float, hi: float) -> np.ndarray:
    return _rng.uniform(lo, hi, n)


def _f32(*shape: int) -> np.ndarray:
    return _rng.normal(size=shape).astype(np.float32)


#: NIR node type -> (factory of an example node, per-sample input shape). Parameters as a foreign tool writes them.
NODE_EXAMPLES: dict[type, tuple[Callable[[], nir.NIRNode], tuple[int, ...]]] = {
    nir.Affine: (lambda: nir.Affine(weight=_f32(3, 4), bias=_f32(3)), (4,)),
    nir.Linear: (lambda: nir.Linear(weight=_f32(3, 4)), (4,)),
    nir.Conv1d: (lambda: nir.Conv1d(input_shape=8, weight=_f32(3, 2, 3), stride=1, padding=1, dilation=1, groups=1,
                                    bias=_f32(3)), (2, 8)),
    nir.Conv2d: (lambda: nir.Conv2d(input_shape=(6, 6), weight=_f32(4, 2, 3, 3), stride=(2, 1), padding=(1, 0),
                                    dilation=(1, 2), groups=1, bias=_f32(4)), (2, 6, 6)),
    nir.AvgPool2d: (lambda: nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                          padding=np.array([0, 0])), (2, 4, 4)),
    nir.SumPool2d: (lambda: nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([1, 1]),
                                          padding=np.array([1, 1])), (2, 4, 4)),
    nir.Flatten: (lambda: nir.Flatten(input_type={"input": np.array([2, 3, 3])}, start_dim=1, end_dim=-1),
                  (2, 3, 3)),
    nir.Scale: (lambda: nir.Scale(scale=_f32(4)), (4,)),
    nir.Threshold: (lambda: nir.Threshold(threshold=_f32(4)), (4,)),
    nir.Delay: (lambda: nir.Delay(delay=np.array([0.0, 1e-3, 2e-3, 3e-3])), (4,)),
    nir.LIF: (lambda: nir.LIF(tau=_pos(4, 2e-3, 2e-2), r=_pos(4, 0.5, 2.0), v_leak=_pos(4, -0.2, 0.2),
                              v_threshold=_pos(4, 0.5, 1.5), v_reset=_pos(4, -0.3, 0.0)), (4,)),
    nir.LI: (lambda: nir.LI(tau=_pos(4, 2e-3, 2e-2), r=_pos(4, 0.5, 2.0), v_leak=_pos(4, -0.2, 0.2)), (4,)),
    nir.IF: (lambda: nir.IF(r=_pos(4, 200.0, 2000.0), v_threshold=_pos(4, 0.5, 1.5), v_reset=_pos(4, -0.3, 0.0)),
             (4,)),
    nir.CubaLIF: (lambda: nir.CubaLIF(tau_syn=_pos(4, 2e-3, 1e-2), tau_mem=_pos(4, 2e-3, 2e-2), r=_pos(4, 0.5, 2.0),
                                      v_leak=_pos(4, -0.2, 0.2), v_threshold=_pos(4, 0.5, 1.5),
                                      v_reset=_pos(4, -0.3, 0.0), w_in=_pos(4, 0.5, 3.0)), (4,)),
}


def _learnable_lif(cls: type) -> nn.Module:
    return cls(tau_mem=torch.tensor([3e-3, 5e-3, 8e-3, 2e-2]), v_threshold=0.8, v_reset=-0.1, v_leak=0.05, r=1.7,
               decay_input=False, surrogate="sigmoid", learn_threshold=True)


#: Module type -> (factory of an example module with non-default parameters, per-sample input shape).
MODULE_EXAMPLES: dict[type, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    nn.Linear: (lambda: nn.Linear(4, 3), (4,)),
    EventLinear: (lambda: EventLinear(4, 3), (4,)),
    nn.Conv1d: (lambda: nn.Conv1d(2, 3, 3, padding=1, stride=2), (2, 9)),
    nn.Conv2d: (lambda: nn.Conv2d(2, 4, 3, padding="same", bias=False), (2, 6, 6)),
    EventConv2d: (lambda: EventConv2d(2, 4, 3, padding=1), (2, 6, 6)),
    nn.AvgPool2d: (lambda: nn.AvgPool2d(2), (2, 4, 4)),
    nn.Flatten: (lambda: nn.Flatten(), (2, 3, 3)),
    Scale: (lambda: Scale(torch.tensor([0.5, -1.0, 2.0, 3.0])), (4,)),
    Threshold: (lambda: Threshold(0.3), (4,)),
    Delay: (lambda: Delay(torch.tensor([0, 1, 3, 2])), (4,)),
    DelayCell: (lambda: DelayCell(2, dt=5e-4), (4,)),
    LIF: (lambda: _learnable_lif(LIF), (4,)),
    LIFCell: (lambda: LIFCell(tau_mem=7e-3, v_threshold=torch.tensor([0.5, 1.0, 1.5, 2.0]), dt=5e-4), (4,)),
    PLIF: (lambda: PLIF(init_tau_mem=4e-3, v_threshold=0.7, decay_input=False), (4,)),
    PLIFCell: (lambda: PLIFCell(init_tau_mem=6e-3), (4,)),
    LI: (lambda: LI(tau_mem=torch.tensor([3e-3, 5e-3, 8e-3, 2e-2]), r=0.3, decay_input=False, learn_tau=True), (4,)),
    LICell: (lambda: LICell(tau_mem=5e-3, v_leak=0.2), (4,)),
    IF: (lambda: IF(v_threshold=1.2, v_reset=-0.1, r=0.7), (4,)),
    IFCell: (lambda: IFCell(r=torch.tensor([0.5, 1.0, 1.5, 2.0]), dt=2e-4), (4,)),
    CubaLIF: (lambda: CubaLIF(tau_syn=4e-3, tau_mem=torch.tensor([3e-3, 5e-3, 8e-3, 2e-2]), r=1.3, w_in=0.9,
                              v_leak=0.1, decay_input=False), (4,)),
    CubaLIFCell: (lambda: CubaLIFCell(tau_syn=3e-3, tau_mem=9e-3, w_in=2.0), (4,)),
}


#: Exported module types that NIR brings back as another type computing the same map.
IMPORTED_AS: dict[type, type] = {EventLinear: nn.Linear, EventConv2d: nn.Conv2d}
