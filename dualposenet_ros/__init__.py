"""DualPoseNet category-level 6D pose and size estimation, for research and for ROS 2.

The machine-learning core (``preprocess``, ``spherical``, ``network``, ``pipeline``...) imports
without ROS. When the package is built with colcon, rosidl also generates the interface modules
``dualposenet_ros.msg`` into the install space; ``extend_path`` lets a pip-installed core and
the colcon-installed interfaces live in different ``sys.path`` entries and still form one package.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
__version__ = "0.1.0"
