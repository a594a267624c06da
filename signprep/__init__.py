"""signprep: sign-language video datasets -> training-ready HDF5 feature shards."""

__version__ = "0.1.0"
