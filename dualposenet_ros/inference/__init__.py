"""The one inference path (``PoseEstimator``) shared by the test phases and the ROS node: network
passes on torch or ONNX Runtime, test-time refinement, tracking and gating, drawing of estimates."""
