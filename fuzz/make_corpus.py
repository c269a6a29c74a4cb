"""Build the fuzzers' seed corpus from images the project generates itself.

Every seed is made here from a real face shipped in a PyPI package
(scikit-image's astronaut, as in ``crowdveil.demo``) on a small synthetic
background, saved in each format crowdveil reads, with the metadata phones
and editors leave (EXIF with GPS/serial/thumbnail, XMP, ICC, PNG text and
eXIf chunks, WebP EXIF/XMP, HEIC EXIF), plus damaged variants (truncated,
flipped bytes). No third-party sample file is copied.

    python fuzz/make_corpus.py [OUT_DIR]      # default: fuzz/corpus-work/seeds

Seeds are small (≤ 96×72 px) so one fuzz execution stays in milliseconds.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

DEFAULT_OUT = Path(__file__).resolve().parent / "corpus-work" / "seeds"

XMP = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="48,51.4N" '
    b'exif:GPSLongitude="2,17.6E"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


def small_face_image(width: int = 96, height: int = 72, seed: int = 3) -> np.ndarray:
    """A face (the astronaut's) on a smooth noisy background."""
    from crowdveil.demo import astronaut_face

    rng = np.random.default_rng(seed)
    canvas = rng.integers(60, 200, size=(height // 4, width // 4, 3), dtype=np.uint8)
    canvas = np.asarray(Image.fromarray(canvas).resize((width, height), Image.BILINEAR)).copy()
    head = Image.fromarray(astronaut_face())
    h = height * 2 // 3
    w = round(h * head.width / head.height)
    x, y = width // 3, height // 6
    canvas[y : y + h, x : x + w] = np.asarray(head.resize((w, h), Image.LANCZOS))
    return canvas


def _phone_exif(thumb_of: Image.Image) -> bytes:
    from crowdveil.demo import phone_exif

    buf = io.BytesIO()
    thumb_of.resize((32, 24)).save(buf, "JPEG", quality=60)
    return phone_exif(buf.getvalue())


def _save(im: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def photo_seeds() -> dict[str, bytes]:
    """name → bytes; the name's suffix is the extension the fuzzer uses first."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    rgb = Image.fromarray(small_face_image())
    exif = _phone_exif(rgb)
    srgb = ImageCmsProfile_bytes()
    seeds: dict[str, bytes] = {}
    seeds["phone.jpg"] = _save(rgb, "JPEG", quality=85, exif=exif, icc_profile=srgb)
    seeds["progressive_xmp.jpg"] = _save(rgb, "JPEG", quality=70, progressive=True, xmp=XMP, comment=b"taken at the march")
    seeds["gray.jpg"] = _save(rgb.convert("L"), "JPEG", quality=80)
    seeds["cmyk.jpg"] = _save(rgb.convert("CMYK"), "JPEG", quality=80)
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "someone")
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    info.add_text("Comment", "long " * 40, zip=True)
    seeds["text.png"] = _save(rgb, "PNG", pnginfo=info, exif=exif)
    seeds["alpha.png"] = _save(rgb.convert("RGBA"), "PNG")
    seeds["palette.png"] = _save(rgb.convert("P"), "PNG", transparency=0)
    seeds["gray16.png"] = _save(Image.fromarray((np.asarray(rgb.convert("L")).astype(np.uint16) * 257)), "PNG")
    seeds["exif.webp"] = _save(rgb, "WEBP", quality=70, exif=exif, xmp=XMP)
    seeds["lossless_alpha.webp"] = _save(rgb.convert("RGBA"), "WEBP", lossless=True)
    seeds["still.gif"] = _save(rgb.convert("P"), "GIF", comment=b"gif comment")
    seeds["anim.gif"] = _save(rgb.convert("P"), "GIF", save_all=True, append_images=[rgb.rotate(90).convert("P")])
    seeds["plain.bmp"] = _save(rgb, "BMP")
    seeds["exif.tiff"] = _save(rgb, "TIFF", exif=exif)
    seeds["deflate.tiff"] = _save(rgb, "TIFF", compression="tiff_deflate")
    seeds["multipage.tiff"] = _save(rgb, "TIFF", save_all=True, append_images=[rgb.rotate(180)])
    seeds["phone.heic"] = _save(rgb, "HEIF", quality=50, exif=exif)
    seeds["alpha.heic"] = _save(rgb.convert("RGBA"), "HEIF", quality=50)
    try:
        seeds["exif.avif"] = _save(rgb, "AVIF", quality=50, exif=exif)
    except (KeyError, OSError, ValueError):  # Pillow built without AVIF
        pass
    turned = rgb.rotate(180)
    seeds["anim.webp"] = _save(rgb, "WEBP", save_all=True, append_images=[turned], duration=[80, 120], exif=exif, xmp=XMP)
    seeds["anim.png"] = _save(rgb, "PNG", save_all=True, append_images=[turned], duration=[80, 120], pnginfo=info)
    try:
        import pillow_jxl  # noqa: F401 - registers JPEG XL

        seeds["exif.jxl"] = _save(rgb, "JXL", quality=70, exif=exif)
        seeds["gray16.jxl"] = _save(Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257), "JXL",
                                    lossless=True, use_container=False)
    except ImportError:  # pragma: no cover - pillow-jxl-plugin is a dependency
        pass
    seeds["comment.ppm"] = b"P6\n# CREATOR: scanner\n96 72\n255\n" + rgb.tobytes()
    seeds["gray.pgm"] = _save(rgb.convert("L"), "PPM")
    seeds["line.pbm"] = _save(rgb.convert("1"), "PPM")
    rotated = io.BytesIO()
    exif6 = Image.Exif()
    exif6[0x0112] = 6
    rgb.rotate(90, expand=True).save(rotated, "JPEG", quality=80, exif=exif6.tobytes())
    seeds["orient6.jpg"] = rotated.getvalue()
    # Damaged variants: the decoders' error paths.
    for name in ("phone.jpg", "text.png", "exif.webp", "phone.heic", "exif.tiff", "anim.webp", "comment.ppm",
                 *(["exif.jxl"] if "exif.jxl" in seeds else [])):
        data = seeds[name]
        stem, suffix = name.rsplit(".", 1)
        seeds[f"{stem}_truncated.{suffix}"] = data[: len(data) // 2]
        flipped = bytearray(data)
        for i in range(16, len(flipped), max(1, len(flipped) // 12)):
            flipped[i] ^= 0x5A
        seeds[f"{stem}_flipped.{suffix}"] = bytes(flipped)
    # Header bombs: small files declaring huge images.
    seeds["bomb.png"] = _png_declaring(100_000, 100_000)
    seeds["bomb.gif"] = b"GIF89a" + (60000).to_bytes(2, "little") * 2 + b"\x00\x00\x00" + b";"
    return seeds


def ImageCmsProfile_bytes() -> bytes:  # noqa: N802 - reads as what it returns
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _png_declaring(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def video_seed() -> bytes | None:
    """A 4-frame H.264 MP4 with creation time and location, for the audit fuzzer."""
    try:
        import av
    except ImportError:  # pragma: no cover - av is a dependency
        return None
    frame_rgb = small_face_image(64, 48)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        container.metadata["creation_time"] = "2026-11-01T14:03:00Z"
        container.metadata["location"] = "+48.8566+002.3522/"
        stream = container.add_stream("libx264", rate=4)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(4):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame_rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def container_seeds() -> dict[str, bytes]:
    """Small clips in the stream containers the audit walks (WMV/ASF, FLV, MPEG-PS, MPEG-TS/AVCHD), with tags."""
    try:
        import av
    except ImportError:  # pragma: no cover - av is a dependency
        return {}
    frame_rgb = small_face_image(64, 48)
    seeds = {}
    for name, muxer, codec, options in (("tagged.wmv", "asf", "wmv2", {}), ("tagged.flv", "flv", "flv", {}),
                                        ("tagged.mpg", "mpeg", "mpeg2video", {}),
                                        ("tagged.mts", "mpegts", "libx264", {"mpegts_m2ts_mode": "1"})):
        buf = io.BytesIO()
        with av.open(buf, "w", format=muxer, container_options=options) as container:
            container.metadata.update({"title": "Rally at the statue", "artist": "Someone", "comment": "meet at 3"})
            stream = container.add_stream(codec, rate=25)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            for _ in range(3):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame_rgb, format="rgb24")))
            container.mux(stream.encode(None))
        data = buf.getvalue()
        seeds[name] = data
        stem, suffix = name.rsplit(".", 1)
        seeds[f"{stem}_truncated.{suffix}"] = data[: len(data) * 2 // 3]
    return seeds


def build(out_dir: Path = DEFAULT_OUT) -> dict[str, list[Path]]:
    """Write ``out_dir/photo`` and ``out_dir/audit``; return the files per harness."""
    photo = photo_seeds()
    audit = dict(photo)
    mp4 = video_seed()
    if mp4 is not None:
        audit["tagged.mp4"] = mp4
        audit["tagged_truncated.mp4"] = mp4[: len(mp4) // 2]
    audit.update(container_seeds())
    written: dict[str, list[Path]] = {}
    for harness, seeds in (("photo", photo), ("audit", audit)):
        folder = Path(out_dir) / harness
        folder.mkdir(parents=True, exist_ok=True)
        written[harness] = []
        for name, data in sorted(seeds.items()):
            path = folder / name
            path.write_bytes(data)
            written[harness].append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    files = build(target)
    for harness, paths in files.items():
        print(f"{harness}: {len(paths)} seeds in {target / harness}")
