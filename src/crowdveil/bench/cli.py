"""``crowdveil bench``: speed and exposure measurements (never timed tests)."""

import click

from .cluster import cluster_command
from .memory import memory_command
from .photos import photos_command
from .recognition import recognition_command
from .video import video_command


@click.group("bench")
def bench() -> None:
    """Measure exposed faces, collateral and speed, beside deface; and what a recognizer still matches."""


bench.add_command(photos_command)
bench.add_command(video_command)
bench.add_command(cluster_command)
bench.add_command(recognition_command)
bench.add_command(memory_command)

