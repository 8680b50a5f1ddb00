"""Experiment tasks beyond ``classify`` (registered in :data:`neuro.experiment.TASKS`).

* ``lsm`` (:mod:`neuro.tasks.lsm`) — fixed reservoir + trained readout, calibrated on the training split;
* ``zero_shot`` (:mod:`neuro.tasks.zero_shot`) — two reservoir encoders and contrastive projection heads.

:mod:`neuro.tasks.hardware` is the face towards ``hardware_models`` (imported lazily, inside calls).
"""
