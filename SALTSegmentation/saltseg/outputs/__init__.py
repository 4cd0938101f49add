"""What a segmentation writes: the output formats and the plan of one run's files."""
