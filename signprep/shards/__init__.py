"""HDF5 feature shards: schema, writer, reader, verification."""

from signprep.shards.reader import SampleView, ShardReader
from signprep.shards.schema import SCHEMA_VERSION, SchemaError

__all__ = ["SCHEMA_VERSION", "SampleView", "SchemaError", "ShardReader"]
