"""ROS 2 side of dualposenet_ros: the ``dualposenet`` node and its adapters.

This sub-package is the only part of ``dualposenet_ros`` that imports rclpy. It is a thin adapter:
messages are converted to :class:`~dualposenet_ros.estimates.FrameInput`, estimated by the shared
:class:`~dualposenet_ros.pipeline.PoseEstimator`, and the results converted back to messages.

Modules: ``node`` (the node and ``main``), ``parameters`` (declaration and validation),
``conversions`` (messages <-> numpy), ``segmentation_inputs`` (the segmentation formats read:
InstanceSegmentation, vision_msgs Detection2DArray + masks, yolo_msgs), ``segmentation_outputs``
(the same formats written, for the synthetic camera), ``detections`` (the vision_msgs
Detection3DArray output), ``latest_frame_slot`` (latest-frame-wins hand-over to the
inference thread), ``node_statistics``, ``input_completeness``, ``stamp_order`` and ``rate_limited_log``
(what the node watches and how it warns), ``diagnostics`` (its /diagnostics status),
``dds_profile`` (the Fast DDS profile for large images), ``entry_point`` (the executables' life cycle),
``compat`` (stand-ins for message_filters, tf2_ros and cv_bridge, used only where those are not
installed), ``synthetic_camera`` (a simulated RGB-D camera with segmentation and ground truth),
``demo`` (the ``dualposenet demo`` command), ``processes`` (starting and stopping the package's
ROS processes), ``bag`` (rosbag2 record/replay with rosbags) and ``node_benchmark``
(``benchmark --node``). Tracking and gating (:mod:`dualposenet_ros.tracking`) and scoring against
ground truth (:mod:`dualposenet_ros.evaluation.scoring`) are ROS-free.
"""
