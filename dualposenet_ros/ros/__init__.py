"""The ``dualposenet`` ROS 2 node and its adapters.

With :mod:`dualposenet_ros.ros_tools`, the only part of ``dualposenet_ros`` that imports rclpy. The node
is a thin adapter:
messages are converted to :class:`~dualposenet_ros.core.estimates.FrameInput`, estimated by the shared
:class:`~dualposenet_ros.inference.pipeline.PoseEstimator`, and the results converted back to messages.

The node's runtime only: ``node`` (the node and ``main``), ``parameters`` (declaration and
validation), ``conversions`` (messages <-> numpy), ``segmentation_inputs`` (the segmentation formats
read: InstanceSegmentation, vision_msgs Detection2DArray + masks, yolo_msgs), ``segmentation_sync``
(each segmentation matched with the cached images of its stamp, however late), ``detections`` (the
vision_msgs Detection3DArray output), ``latest_frame_slot`` (latest-frame-wins hand-over to the
inference thread), ``stage_times``, ``node_statistics``, ``stamp_order`` and ``rate_limited_log``
(what the node watches and how it warns), ``diagnostics`` (its /diagnostics status), ``dds_profile``
(the Fast DDS profile for large images), ``entry_point`` (the executables' life cycle) and
``compat`` (stand-ins for message_filters, tf2_ros and cv_bridge, used only where those are not
installed). The synthetic camera, the demo, bags and the node benchmark live in
:mod:`dualposenet_ros.ros_tools`. Tracking and gating (:mod:`dualposenet_ros.inference.tracking`)
and scoring against ground truth (:mod:`dualposenet_ros.evaluation.scoring`) are ROS-free.
"""
