"""Data tools: the public NOCS formats (:mod:`.nocs_io`), the synthetic generator (:mod:`.synth`)
and training-instance preparation.

Nothing is imported here, so ``import dualposenet_ros.data.nocs_io`` does not pay for the
generator or for torch.
"""
