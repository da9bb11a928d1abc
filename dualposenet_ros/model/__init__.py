"""The DualPoseNet network and what it is made of: input preparation, spherical convolutions,
losses, checkpoints and reduced-precision copies."""
