"""Conventions every layer shares: camera intrinsics, NOCS categories, string options, frames,
rotations, model and run configuration, and the estimator's inputs and outputs. Imports neither torch
nor ROS."""
