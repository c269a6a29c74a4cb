"""Painting regions over faces: one module per style, one shared region mask."""

from .base import paint
from .regions import redaction_regions, region_mask

__all__ = ["paint", "redaction_regions", "region_mask"]
