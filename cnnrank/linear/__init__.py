"""Linear CNNs and dominant frequencies (THEORY.md §7)."""
