"""Procedural RGB-D scenes of the six NOCS categories with exact NOCS maps and poses.

In memory (the ROS synthetic camera)::

    sampler = SceneSampler()
    scene = sampler.sample(np.random.default_rng(0))
    frame = render_scene(scene)          # Frame: rgb, depth_mm, instance_mask, coord, instances
    scene = scene.advanced(0.1)          # objects spin, the camera orbits

On disk (``dualposenet synth``): :func:`generate_dataset` writes the NOCS CAMERA layout.
Categories of one's own come from mesh files (:class:`MeshCategory`, ``SynthSettings.mesh_categories``).
"""

from .render import Frame, InstanceGT, render_scene
from .mesh_files import MeshCategory
from .scene import CameraView, Lighting, PlacedObject, Scene, SceneConfig, SceneSampler, Table
from .shapes import ObjectModel, make_object_model
from .writer import GENERATOR_VERSION, SynthSettings, generate_dataset, scene_rng

__all__ = [
    "GENERATOR_VERSION",
    "CameraView",
    "Frame",
    "InstanceGT",
    "Lighting",
    "MeshCategory",
    "ObjectModel",
    "PlacedObject",
    "Scene",
    "SceneConfig",
    "SceneSampler",
    "SynthSettings",
    "Table",
    "generate_dataset",
    "make_object_model",
    "render_scene",
    "scene_rng",
]
