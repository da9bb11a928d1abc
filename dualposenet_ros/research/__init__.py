"""Research commands: the test phases (``dualposenet test``) and the import of the official
TensorFlow weights (``dualposenet import-tf``) without TensorFlow."""
