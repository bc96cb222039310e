"""Poses: the canonical skeleton, pose files, extractors, filters, normalization, rendering."""
