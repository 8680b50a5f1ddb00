"""Gradients: float64 gradcheck of the smooth parts of the dynamics, and learnable parameters."""

from __future__ import annotations

import torch

from neuro import LI, LIF, NoReset
from neuro.neurons import CubaLIFParameters, CubaLIFState, LIFParameters, LIFState, cuba_lif_step, lif_step


def _x() -> torch.Tensor:
    return torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)


def test_li_gradcheck_input_and_tau() -> None:
    tau = torch.tensor(3e-3, dtype=torch.float64, requires_grad=True)

    def run(x, tau):
        li = LI(tau_mem=tau, decay_input=True)
        li.tau_mem = tau  # keep the graph to the tensor being checked
        return li(x)[0]

    assert torch.autograd.gradcheck(run, (_x(), tau))


def test_lif_membrane_gradcheck_without_reset() -> None:
    """With no reset the membrane is a smooth (linear) function of input, tau and leak."""

    def run(x, tau, v_leak):
        p = LIFParameters(tau_mem=tau, v_leak=v_leak, reset=NoReset(), decay_input=True)
        state, vs = LIFState(torch.zeros_like(x[0])), []
        for x_t in x.unbind(0):
            _, state = lif_step(x_t, state, p)
            vs.append(state.v)
        return torch.stack(vs)

    tau = torch.tensor(4e-3, dtype=torch.float64, requires_grad=True)
    leak = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(run, (_x(), tau, leak))


def test_cuba_lif_gradcheck_without_reset() -> None:
    def run(x, tau_syn, tau_mem):
        p = CubaLIFParameters(tau_syn=tau_syn, tau_mem=tau_mem, reset=NoReset())
        state, vs = CubaLIFState(torch.zeros_like(x[0]), torch.zeros_like(x[0])), []
        for x_t in x.unbind(0):
            _, state = cuba_lif_step(x_t, state, p)
            vs.append(torch.stack(state))
        return torch.stack(vs)

    tau_syn = torch.tensor(3e-3, dtype=torch.float64, requires_grad=True)
    tau_mem = torch.tensor(5e-3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(run, (_x(), tau_syn, tau_mem))


def test_learnable_threshold_and_tau_receive_gradients() -> None:
    lif = LIF(tau_mem=3e-3, learn_threshold=True, learn_tau=True, decay_input=False)
    x = torch.rand(20, 4, 5) * 1.5
    out, _ = lif(x)
    (out * torch.linspace(1, 2, 20).view(20, 1, 1)).sum().backward()
    assert lif.v_threshold.grad is not None and lif.v_threshold.grad.abs() > 0
    assert lif.tau_mem.grad is not None and lif.tau_mem.grad.abs() > 0
    lif.reset_parameters()
    assert lif.v_threshold.item() == 1.0 and abs(lif.tau_mem.item() - 3e-3) < 1e-9
