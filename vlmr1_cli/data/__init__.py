"""Data: the JSONL sample schema, loading into datasets, and one importer per upstream source."""
