"""Data layer: scene registry, readers, downloads, splits, patches and preprocessing."""
