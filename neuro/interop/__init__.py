"""Exchange with other tools: NIR export/import (:mod:`neuro.interop.nir`) and the peers' conventions
(:mod:`neuro.interop.peers`: snnTorch, Norse, SpikingJelly).

Example:
    >>> import torch
    >>> from neuro import LIF, Sequential
    >>> from neuro.interop import from_nir, to_nir
    >>> net = Sequential(torch.nn.Linear(4, 3), LIF())
    >>> type(from_nir(to_nir(net, torch.zeros(1, 1, 4)))).__name__
    'Sequential'
"""

from neuro.interop.nir import (
    GraphModel,
    NIRExportError,
    NIRImportError,
    fold_batchnorm,
    from_nir,
    read,
    retime,
    to_nir,
    verify_roundtrip,
)

__all__ = ["GraphModel", "NIRExportError", "NIRImportError", "fold_batchnorm", "from_nir", "read", "retime",
           "to_nir", "verify_roundtrip"]
