"""ROS tools around the node, never imported by it: the synthetic camera (with
``segmentation_outputs``), the ``dualposenet demo`` command, starting and stopping the package's
processes, rosbag2 record/replay and the node benchmark (``dualposenet benchmark --node``)."""
