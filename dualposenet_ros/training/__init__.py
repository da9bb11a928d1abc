"""Training of DualPoseNet on prepared instances (``dualposenet train``)."""
