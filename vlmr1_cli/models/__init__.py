"""Model families (one file each), offline presets, and loading."""
