"""MRML work: segmentations, the label tree stored in them, terminology, parameters, sample data and
the console logic. Imports the processes layer, never the widgets."""
