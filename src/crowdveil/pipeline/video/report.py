"""The one place a video's ``Report`` is written: each pass's result goes in, nothing is read back.

The passes (``encode``, ``verify``) return what they did; ``anonymize_video``
hands each result here in the order things happened, so notes and timings
read as the run went.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...config import Config
from ...types import Detections, Report, VideoTrack
from ...io.digest import sha256_file
from .encode import FirstPass, Reencoded, Repainted
from .ledger import RegionLedger
from .media import Media, SourceFacts
from .verify import Verified

__all__ = ["VideoReport"]


class VideoReport:
    """Writes one video's ``Report`` from the passes' results."""

    def __init__(self, report: Report, config: Config, media: Media) -> None:
        self.report, self.config, self.media = report, config, media
        self._gops_redone = 0
        self._verified_frames = 0  # as last reported: the frames the verifier re-detected

    def took(self, stage: str, ms: float) -> None:
        # Passes repeat (repair rounds): each stage's time adds up.
        self.report.timings_ms[stage] = self.report.timings_ms.get(stage, 0) + ms

    def first_pass(self, run: FirstPass) -> None:
        """The source as decoded, the frame size, the detector, the tracks and the decoder's notes."""
        report, info = self.report, run.facts.info
        report.video.update({
            "container": report.source.rsplit(".", 1)[-1].lower(),
            "codec": info.video_codec,
            "fps": round(float(info.rate), 3),
            "audio": "kept" if run.facts.audio_kept else ("dropped" if info.audio_codec else "none"),
            "duration_s": round(info.duration_s, 3) if info.duration_s else None,
            "streams_dropped": list(info.ignored_streams),
        })
        if self.media.animation is not None:
            report.video["animation"] = {"source": info.container, "written_as": self.media.animation,
                                         "frame_times_ms": "kept" if not self.media.mp4_out else "as MP4 timestamps"}
        if info.audio_codec and not self.config.keep_audio:
            report.notes.append("audio dropped (voices identify people); use --audio keep to keep it")
        elif info.audio_codec:
            report.notes.append("audio kept and re-encoded as AAC: voices and sounds can identify people")
        if info.ignored_streams:
            report.notes.append(f"not copied: {', '.join(info.ignored_streams)} stream(s)")
        w, h = run.facts.size
        report.width, report.height = w, h
        stored = info.stored_size
        if self.media.even and (w, h) not in (stored, stored[::-1]):
            report.notes.append(f"cropped to {w}×{h}: H.264 needs an even width and height")
        if stored != (w, h) and stored[::-1] == (w, h):
            report.notes.append("rotation from the display matrix applied to the pixels")
        if run.detector is not None:
            described, models = run.detector
            report.models.update(models)
            report.video["detector"] = described
        report.video["tracks"] = run.tracks_started
        self._source_notes(run.source_notes)
        self.took("decode+detect+track+encode", run.ms)
        report.video["detection_failed_frames"] = run.detection_failed
        if run.detection_failed:
            report.notes.append(f"detection failed on {run.detection_failed} frame(s); each was painted over entirely")

    def _source_notes(self, notes: list[str]) -> None:
        for note in notes:
            if note not in self.report.notes:
                self.report.notes.append(note)

    def _repainted(self, repainted: Repainted) -> None:
        self._source_notes(repainted.source_notes)
        self.took("repair: decode+encode", repainted.ms)

    def reencoded(self, done: Reencoded) -> None:
        if done.fallback is not None:
            self.report.notes.append(done.fallback)
        if done.repainted is not None:
            self._repainted(done.repainted)
        if done.gops is not None:
            self._gops_redone += done.gops_redone
            self.report.video["gops_encoded_again"] = self._gops_redone
            self.report.video["gops"] = done.gops
            self.took("repair: encode GOPs again", done.ms)

    def reviewed(self, frames_drawn: int, frames_changed: int) -> None:
        self.report.notes.append(f"regions drawn in review on {frames_drawn} frame(s): painted on {frames_changed} "
                                 "frame(s), following the tracks they touch")

    def verifier(self, described: tuple[str, dict[str, str]] | None) -> None:
        if described is not None:
            self.report.models.update(described[1])
            self.report.video["verifier"] = described[0]

    def verified(self, result: Verified) -> None:
        self.report.checks = list(result.checks)
        if result.verified is None:  # the output did not decode: that check failed the file
            return
        if result.frames_written is not None:
            self.report.video["frames_written"] = result.frames_written
        self._verified_frames = len(result.verified)
        self.report.video["verified_frames"] = self._verified_frames
        self.took("verify", result.ms)

    def repaired(self, frames: set[int]) -> None:
        """Every frame a repair has painted so far."""
        self.report.video["repaired_frames"] = sorted(frames)

    def repair_round(self, frames_found: int, redone: set[int] | None) -> None:
        self.report.notes.append(
            f"verification found faces outside the regions on {frames_found} frame(s); painted them too "
            f"and encoded again {'the whole video' if redone is None else f'the {len(redone)} frames around them'}"
        )

    def finish(self, facts: SourceFacts, ledger: RegionLedger, tracks: list[VideoTrack], leftover: dict[int, Detections],
               verifier_name: str, output: Path) -> None:
        """The faces check from what the verifier still finds, the painted share, and the verdict."""
        report = self.report
        # What the verifier still finds after the repair rounds fails the file: it is
        # a different network on the mirror image, at a threshold where its finds are
        # faces, so a find that survives a repair is not a flicker to wave through.
        exposed = sorted(leftover)
        counts = ledger.region_counts()
        report.video.update({
            "frames": facts.frames,
            "regions_per_frame": {"mean": round(float(counts.mean()), 2), "max": int(counts.max())},
            "exposed_risk_frames": exposed,
        })
        report.faces = list(tracks)
        shares = ledger.painted_shares(self.config.shape)
        if shares:
            most = int(np.argmax(shares))
            report.painted_pct = round(100 * shares[most], 1)
            report.video["painted_max_frame"] = most
        report.check(
            "no face left outside the redacted regions",
            not exposed,
            f"re-detected {self._verified_frames} of {facts.frames} frames "
            f"with {verifier_name}: a face outside the regions on "
            f"{len(exposed)} frame(s)" + (f" ({', '.join(map(str, exposed[:20]))}{' …' if len(exposed) > 20 else ''})"
                                          if exposed else ""),
        )
        report.passed = all(c.passed for c in report.checks)
        if report.passed:
            report.output_sha256 = sha256_file(output)

    def timed(self, total_ms: float, frames: int, seconds: float) -> None:
        self.report.timings_ms["total"] = total_ms
        self.report.video["processing_fps"] = round(frames / max(1e-6, seconds), 2)
