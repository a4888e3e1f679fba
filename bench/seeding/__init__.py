"""The national-scale benchmark data set: what it holds, how it is planned, signed and written."""
