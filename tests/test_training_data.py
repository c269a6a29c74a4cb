"""The training data's people-free background cuts (``training/candidates.py``): what the classifier
learns "not a face" from. Pure array code: no torch, no shared data."""

import numpy as np

from training.candidates import BACKGROUND_MIN_PX, BACKGROUND_SCALES, background_cut, background_name, background_region


def test_the_background_cut_keeps_two_face_sizes_clear_of_every_face():
    gt = np.array([[400, 300, 440, 340], [100, 100, 120, 124]], np.float32)
    region = background_region((768, 1024), gt, np.random.default_rng(0))
    assert region is not None
    x1, y1, x2, y2 = region
    assert x2 - x1 >= BACKGROUND_MIN_PX and y2 - y1 >= BACKGROUND_MIN_PX
    for fx1, fy1, fx2, fy2 in gt:
        w, h = fx2 - fx1, fy2 - fy1
        grown = (fx1 - 2 * w, fy1 - 2 * h, fx2 + 2 * w, fy2 + 2 * h)
        assert x2 <= grown[0] or x1 >= grown[2] or y2 <= grown[1] or y1 >= grown[3]


def test_the_enlarged_cut_is_the_centre_of_the_same_region_at_twice_the_size():
    assert BACKGROUND_SCALES == (1, 2)
    rgb = np.zeros((600, 800, 3), np.uint8)
    rgb[250:350, 350:450] = 255  # a white square at the region's centre
    region = (200, 100, 600, 500)  # 400 × 400 around it
    plain = background_cut(rgb, region, 1)
    assert plain.shape == (400, 400, 3) and np.array_equal(plain, rgb[100:500, 200:600])
    enlarged = background_cut(rgb, region, 2)
    assert enlarged.shape == (400, 400, 3) and enlarged.flags.c_contiguous
    white = np.argwhere(enlarged[:, :, 0] > 127)
    # the centre 200 × 200 (x 300-500, y 200-400) enlarged 2×: the 100-px square becomes ~200 px
    assert 190 <= white[:, 0].max() - white[:, 0].min() <= 210
    assert 190 <= white[:, 1].max() - white[:, 1].min() <= 210
    assert abs(white[:, 0].mean() - 200) < 3 and abs(white[:, 1].mean() - 200) < 3


def test_each_scale_has_its_own_cache_file_and_the_plain_one_keeps_the_image_name():
    names = {background_name("0--Parade/0_Parade_1.jpg", s) for s in BACKGROUND_SCALES}
    assert names == {"0--Parade__0_Parade_1.npz", "0--Parade__0_Parade_1@2x.npz"}


def test_the_closer_look_learns_from_the_big_candidates_only_at_its_own_crop_size(tmp_path):
    from helpers import face_on_background

    from crowdveil.bench.wider import write_wider
    from crowdveil.detect.second_stage import CLOSER_CROP_PX, CLOSER_MIN_PX, LOG_HEIGHT_COLUMN
    from training.candidates import extract
    from training.fit import load_samples
    from training.labels import FACE

    pixels, boxes = face_on_background(640, 480, faces=((300, 200, 90), (80, 60, 20)))
    xywh = [(int(x1), int(y1), int(x2 - x1), int(y2 - y1)) for x1, y1, x2, y2 in boxes]
    write_wider(tmp_path / "wider", [("0--Parade/0_Parade_1.jpg", pixels, xywh)])
    extract(tmp_path / "wider", tmp_path / "cache")
    every = load_samples(tmp_path / "wider", tmp_path / "cache")
    closer = load_samples(tmp_path / "wider", tmp_path / "cache", closer=True)
    heights = 2.0 ** every.features[:, LOG_HEIGHT_COLUMN]
    assert 0 < len(closer.labels) == int((heights >= CLOSER_MIN_PX - 1e-3).sum()) < len(every.labels)
    assert closer.crops.shape[1:] == (3, CLOSER_CROP_PX, CLOSER_CROP_PX) and closer.crops.dtype == np.uint8
    assert (2.0 ** closer.features[:, LOG_HEIGHT_COLUMN] >= CLOSER_MIN_PX - 1e-3).all()
    assert (closer.labels == FACE).any()  # the 90-px face is among them
