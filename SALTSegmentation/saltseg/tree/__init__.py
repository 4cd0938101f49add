"""The label tree: SALT's tree files, node order, tree softmax, names, colours and label tables."""
