"""The command-line layer: parses and prints only; all work lives in importable modules."""
