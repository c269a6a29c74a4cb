"""The one table of the formats crowdveil reads: what each is, its file suffixes, what comes out.

``sniff`` decides a file's format from its bytes; this table says, for each
format name it returns, whether it is a photo, a video or a RAW camera file,
and which suffixes a folder walk takes as media (``runner.batch``). ``OUTPUTS``
says which suffix each format crowdveil writes gets. Every other module asks
here instead of keeping a list of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Format", "FORMATS", "PHOTO_FORMATS", "VIDEO_FORMATS", "RAW_FORMATS", "ANIMATABLE_FORMATS",
           "PHOTO_SUFFIXES", "VIDEO_SUFFIXES", "RAW_SUFFIXES", "MEDIA_SUFFIXES", "OUTPUTS", "OUTPUT_SUFFIXES",
           "ANIMATION_SUFFIXES", "kind_of", "suffixes_of", "supported_list"]


@dataclass(frozen=True)
class Format:
    name: str  # as ``sniff`` returns it
    kind: str  # "photo", "video" or "raw" (a photo developed from sensor data)
    suffixes: tuple[str, ...]
    label: str  # for messages


FORMATS: tuple[Format, ...] = (
    Format("jpeg", "photo", (".jpg", ".jpeg", ".jpe"), "JPEG"),
    Format("png", "photo", (".png", ".apng"), "PNG/APNG"),
    Format("webp", "photo", (".webp",), "WebP"),
    Format("gif", "photo", (".gif",), "GIF"),
    Format("bmp", "photo", (".bmp",), "BMP"),
    Format("tiff", "photo", (".tif", ".tiff"), "TIFF"),
    Format("heif", "photo", (".heic", ".heif", ".hif"), "HEIC/HEIF"),
    Format("avif", "photo", (".avif",), "AVIF"),
    Format("jxl", "photo", (".jxl",), "JPEG XL"),
    Format("pnm", "photo", (".ppm", ".pgm", ".pbm", ".pnm"), "PNM"),
    Format("raw", "raw", (".dng", ".arw", ".nef", ".nrw", ".cr2", ".cr3", ".crw", ".raf", ".orf", ".rw2", ".pef",
                          ".srw", ".srf", ".sr2", ".x3f", ".3fr", ".iiq", ".erf", ".kdc", ".mrw", ".rwl"), "RAW"),
    Format("mp4", "video", (".mp4", ".m4v"), "MP4"),
    Format("mov", "video", (".mov", ".qt"), "MOV"),
    Format("3gp", "video", (".3gp", ".3g2"), "3GP"),
    Format("mkv", "video", (".mkv",), "MKV"),
    Format("webm", "video", (".webm",), "WebM"),
    Format("avi", "video", (".avi",), "AVI"),
    Format("asf", "video", (".wmv", ".asf"), "WMV/ASF"),
    Format("mpegts", "video", (".mts", ".m2ts", ".ts"), "MPEG-TS/AVCHD"),
    Format("mpegps", "video", (".mpg", ".mpeg", ".vob"), "MPEG-PS/VOB"),
    Format("flv", "video", (".flv",), "FLV"),
)

PHOTO_FORMATS = tuple(f.name for f in FORMATS if f.kind == "photo")
VIDEO_FORMATS = tuple(f.name for f in FORMATS if f.kind == "video")
RAW_FORMATS = tuple(f.name for f in FORMATS if f.kind == "raw")
# Photo formats that can hold an animation: anonymized frame by frame as a short video.
ANIMATABLE_FORMATS = ("gif", "webp", "png")

PHOTO_SUFFIXES = frozenset(s for f in FORMATS if f.kind == "photo" for s in f.suffixes)
VIDEO_SUFFIXES = frozenset(s for f in FORMATS if f.kind == "video" for s in f.suffixes)
RAW_SUFFIXES = frozenset(s for f in FORMATS if f.kind == "raw" for s in f.suffixes)
MEDIA_SUFFIXES = PHOTO_SUFFIXES | VIDEO_SUFFIXES | RAW_SUFFIXES

# What crowdveil writes: each output format and the suffix its file gets (an APNG is a ``.png``).
OUTPUTS: dict[str, str] = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif", "apng": ".png", "mp4": ".mp4"}
OUTPUT_SUFFIXES = tuple(dict.fromkeys(OUTPUTS.values()))  # each once: .jpg .png .webp .gif .mp4
# A destination's suffix picks what an animation is written as (GIF in, ``out.webp`` out: WebP).
ANIMATION_SUFFIXES: dict[str, str] = {**{OUTPUTS[kind]: kind for kind in ("mp4", "gif", "webp", "apng")}, ".apng": "apng"}

_BY_NAME = {f.name: f for f in FORMATS}


def kind_of(fmt: str) -> str:
    """``photo``, ``video`` or ``raw``; an unknown name is a photo (decoded, or refused, as one)."""
    found = _BY_NAME.get(fmt)
    return found.kind if found else "photo"


def suffixes_of(*names: str) -> frozenset[str]:
    """The file suffixes of the formats named (as ``sniff`` names them)."""
    return frozenset(s for name in names for s in _BY_NAME[name].suffixes)


def supported_list() -> str:
    """The formats, for a message: photos; videos."""
    photos = ", ".join(f.label for f in FORMATS if f.kind in ("photo", "raw"))
    videos = ", ".join(f.label for f in FORMATS if f.kind == "video")
    return f"{photos}; {videos}"
