"""Imports into shards from files other tools wrote: pose-format `.pose` collections (signprep/imports/pose.py)."""
