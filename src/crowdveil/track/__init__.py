"""Linking face regions across the frames of one video, so detector misses are bridged."""

from .iou import IouTracker, TrackerSettings

__all__ = ["IouTracker", "TrackerSettings"]
