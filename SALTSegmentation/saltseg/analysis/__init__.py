"""Numbers from the tree: statistics per node, hierarchical evaluation, structure subsets."""
