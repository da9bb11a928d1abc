"""``dualposenet benchmark``: speed and memory of maps, network and frames (``benchmark``), the cost
of precision and backend options (``option_benchmark``), the import of TensorFlow weights
(``import_benchmark``). The node benchmark (``benchmark --node``) lives with the ROS tools."""
