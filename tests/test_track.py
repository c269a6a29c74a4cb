"""The tracker bridges detector misses: interpolation, pre-roll, hold; ids stay apart."""

from __future__ import annotations

import numpy as np
import pytest

from crowdveil.track import IouTracker, TrackerSettings
from crowdveil.types import Detections, box_coverage


def face(x: float, y: float = 50, size: float = 40, score: float = 0.9) -> Detections:
    return Detections.from_boxes([[x, y, x + size, y + size]], score=[score])


def run(tracker: IouTracker, per_frame: list[Detections]) -> list[Detections]:
    released = []
    for i, dets in enumerate(per_frame):
        released += tracker.push(i, dets)
    released += tracker.finish()
    assert [i for i, _ in released] == list(range(len(per_frame))), "every frame released once, in order"
    return [d for _, d in released]


def covers(regions: Detections, box) -> bool:
    return len(regions) > 0 and box_coverage(np.array([box], np.float32), regions.xyxy).max() >= 0.999


def test_a_miss_between_detections_is_interpolated():
    frames = [face(10 * i) if i not in (4, 5) else Detections.empty() for i in range(10)]
    out = run(IouTracker(TrackerSettings(lookahead=3, hold=3)), frames)
    for i in (4, 5):
        assert len(out[i]) == 1 and out[i].source[0] == "track:interpolated"
        assert covers(out[i], [10 * i, 50, 10 * i + 40, 90]), "the interpolated box covers where the face was"
    assert len(set(np.concatenate([d.track_id for d in out]))) == 1


def test_region_starts_before_the_face_is_first_seen():
    frames = [Detections.empty()] * 5 + [face(100)] * 5
    out = run(IouTracker(TrackerSettings(lookahead=3, hold=0)), frames)
    assert [len(d) for d in out[:5]] == [0, 0, 1, 1, 1]
    assert all(out[i].source[0] == "track:pre-roll" and covers(out[i], [100, 50, 140, 90]) for i in (2, 3, 4))


def test_region_lives_on_after_the_face_was_last_seen_and_follows_its_motion():
    frames = [face(20 * i) for i in range(5)] + [Detections.empty()] * 6
    out = run(IouTracker(TrackerSettings(lookahead=0, hold=4)), frames)
    assert [len(d) for d in out[5:]] == [1, 1, 1, 1, 0, 0]
    for i in range(5, 9):
        assert out[i].source[0] == "track:hold"
        assert covers(out[i], [20 * i, 50, 20 * i + 40, 90]), "the held box moves on with the face"


def test_two_faces_crossing_paths_keep_their_own_tracks():
    frames = [Detections.merge([face(10 + 8 * i, y=20), face(200 - 8 * i, y=120)]) for i in range(20)]
    out = run(IouTracker(), frames)
    ids_top = {int(d.track_id[np.argmin(d.xyxy[:, 1])]) for d in out}
    ids_bottom = {int(d.track_id[np.argmax(d.xyxy[:, 1])]) for d in out}
    assert len(ids_top) == len(ids_bottom) == 1 and ids_top != ids_bottom


def test_fast_mover_that_no_longer_overlaps_is_linked_by_its_centre():
    frames = [face(35 * i, size=40) for i in range(6)]  # 35 px a frame: IoU with the last box is small
    tracker = IouTracker(TrackerSettings(lookahead=0, hold=0))
    run(tracker, frames)
    assert tracker.tracks_started == 1


def test_frames_are_released_lookahead_late_and_in_order():
    tracker = IouTracker(TrackerSettings(lookahead=2, hold=1))
    assert tracker.push(0, face(0)) == [] and tracker.push(1, face(1)) == []
    assert [i for i, _ in tracker.push(2, face(2))] == [0]
    with pytest.raises(ValueError):
        tracker.push(4, face(4))


def test_no_detections_no_regions():
    out = run(IouTracker(), [Detections.empty()] * 30)
    assert all(len(d) == 0 for d in out)


def test_old_tracks_are_forgotten():
    tracker = IouTracker(TrackerSettings(lookahead=2, hold=2))
    frames = [face(10)] * 3 + [Detections.empty()] * 20
    run(tracker, frames)
    assert tracker._tracks == {}  # noqa: SLF001 - memory must not grow with the video's length


def test_a_small_fast_box_held_and_pre_rolled_stays_near_its_own_size():
    # Hands signing: a 40-px box seen on three frames, 30 px a frame apart, then never again.
    # Its hold and pre-roll used to grow by speed x age up to the box's whole size a side
    # (9x its area); a face the detector lost is not 3x wider than it was.
    frames = [Detections.empty()] * 10 + [face(100 + 30 * i) for i in range(3)] + [Detections.empty()] * 20
    out = run(IouTracker(TrackerSettings(lookahead=10, hold=15)), frames)
    bridged = [d for d in out if len(d) and str(d.source[0]).startswith("track:")]
    assert len(bridged) == 10 + 15
    limit = (40 * (1 + 2 * 0.3)) ** 2
    for d in bridged:
        w, h = d.xyxy[0, 2] - d.xyxy[0, 0], d.xyxy[0, 3] - d.xyxy[0, 1]
        assert w * h <= limit + 1e-3


# The weak rule as it was measured first: 4 frames either side of a weak track's detections.
WEAK_REACH_4 = TrackerSettings(lookahead=10, hold=15, weak_score=0.7, weak_reach=4, weak_pre_roll=4, weak_min_height=64, weak_seen=3)


def test_pre_roll_goes_back_along_the_faces_motion():
    # A face walking in at 8 px a frame, first detected at frame 10: its pre-roll, bounded in
    # size, must sit where the face was, not where it was first seen. (Frame 0 is released
    # when only the first detection is known: no motion yet, only the growth margin.)
    frames = [Detections.empty()] * 10 + [face(8 * i) for i in range(10, 20)]
    out = run(IouTracker(TrackerSettings(lookahead=10, hold=0)), frames)
    assert out[0].source[0] == "track:pre-roll"
    for i in range(1, 10):
        assert out[i].source[0] == "track:pre-roll"
        assert covers(out[i], [8 * i, 50, 8 * i + 40, 90]), f"frame {i}: the face is outside its pre-roll"


def test_a_lone_weak_detection_lives_only_weak_reach_frames_either_side():
    frames = [Detections.empty()] * 20 + [face(100, size=80, score=0.4)] + [Detections.empty()] * 20
    out = run(IouTracker(WEAK_REACH_4), frames)
    painted = [i for i, d in enumerate(out) if len(d)]
    assert painted == list(range(16, 25)), "4 frames of pre-roll, the detection, 4 frames of hold"


def test_the_defaults_are_the_measured_ones():
    s = TrackerSettings()
    assert (s.weak_score, s.weak_seen, s.weak_reach, s.weak_min_height, s.weak_max_margin) == (0.85, 3, 1, 64.0, 0.1)
    assert s.weak_pre_roll == 0


def test_by_default_a_lone_weak_big_detection_starts_where_it_is_found_and_is_held_one_frame():
    # hands found once at 0.6 (eat.mkv): no pre-roll, one frame of hold; a sure face gets both in full
    def painted(score: float) -> list[int]:
        frames = [Detections.empty()] * 20 + [face(100, size=100, score=score)] + [Detections.empty()] * 20
        return [i for i, d in enumerate(run(IouTracker(), frames)) if len(d)]

    assert painted(0.6) == [20, 21]
    assert painted(0.9) == list(range(10, 36))


def test_a_weak_track_grows_at_most_weak_max_margin_however_fast_it_moves():
    # Hands seen twice at 0.5, moving 30 px a frame: within its reach the box follows the
    # motion but grows at most 0.1 a side; a sure track grows up to max_margin (0.3).
    def regions(score: float) -> list[Detections]:
        frames = [Detections.empty()] * 30
        frames[10], frames[11] = face(100, size=100, score=score), face(130, size=100, score=score)
        settings = TrackerSettings(lookahead=10, hold=15, weak_reach=4, weak_max_margin=0.1, max_margin=0.3)
        return run(IouTracker(settings), frames)

    weak, sure = regions(0.5), regions(0.9)
    for i in (12, 13, 14, 15):
        assert weak[i].source[0] == "track:hold" and sure[i].source[0] == "track:hold"
        assert weak[i].width[0] <= 120 + 1e-3 and weak[i].height[0] <= 120 + 1e-3
        assert covers(weak[i], [130 + 30 * (i - 11), 50, 230 + 30 * (i - 11), 150]), "it moves along"
    assert sure[15].width[0] == pytest.approx(160)
    assert not len(weak[16]) and len(sure[16])


def test_a_lone_sure_detection_keeps_the_full_pre_roll_and_hold():
    frames = [Detections.empty()] * 20 + [face(100, size=80, score=0.75)] + [Detections.empty()] * 20
    out = run(IouTracker(WEAK_REACH_4), frames)
    assert [i for i, d in enumerate(out) if len(d)] == list(range(10, 36))


def test_weak_detections_of_one_track_are_still_bridged_but_held_only_weak_reach_frames():
    # Two weak detections 9 frames apart link into one track: the gap is interpolated; seen
    # twice and never above weak_score (a hand, on the ASL clips), it lives 4 frames either side.
    frames = [Detections.empty()] * 40
    frames[10], frames[19] = face(100, size=80, score=0.3), face(110, size=80, score=0.3)
    out = run(IouTracker(WEAK_REACH_4), frames)
    assert all(len(out[i]) == 1 and out[i].source[0] == "track:interpolated" for i in range(11, 19))
    assert [i for i, d in enumerate(out) if len(d)] == list(range(6, 24))
    assert len(set(np.concatenate([d.track_id for d in out if len(d)]))) == 1


def test_a_weak_track_seen_more_than_weak_seen_times_gets_the_full_hold():
    frames = [Detections.empty()] * 45
    for i in (10, 13, 16, 19):
        frames[i] = face(100 + i, size=80, score=0.3)
    out = run(IouTracker(WEAK_REACH_4), frames)
    # A frame is released knowing the detections up to ``lookahead`` frames ahead: frames 0-5 know
    # only the first (weak reach); after the fourth, the track is held in full.
    assert [i for i, d in enumerate(out) if len(d)] == list(range(6, 35))


def test_a_lone_weak_small_detection_keeps_the_full_reach():
    # A 40-px find in a crowd seen once, weakly, is more often a face than a hand: full pre-roll and hold.
    frames = [Detections.empty()] * 20 + [face(100, size=40, score=0.4)] + [Detections.empty()] * 20
    out = run(IouTracker(WEAK_REACH_4), frames)
    assert [i for i, d in enumerate(out) if len(d)] == list(range(10, 36))
