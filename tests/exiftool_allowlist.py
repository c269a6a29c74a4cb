"""What exiftool may still show in a clean crowdveil output: structure only.

exiftool (``-j -a -G1 -ee -u``) is the independent judge of "no metadata".
A clean output may still show tags that describe how the pixels are stored
(dimensions, colour type, bit depth, compression, the JFIF header crowdveil's
JPEG encoder always writes) and tags exiftool derives from the file system or
computes itself. Everything else is a leak.

The allowlist is by exact ``Group:Tag`` name, not by group, so that a new
tag in an allowed group (say ``PNG:TextualData`` or ``JFIF:ThumbnailImage``)
still counts as metadata.

    from exiftool_allowlist import non_structural
    assert non_structural(exiftool_tags(out)) == {}
"""

from __future__ import annotations

from typing import Any

# Derived by exiftool or from the file system, not stored in the file.
DERIVED = frozenset({
    "SourceFile",
    "ExifTool:ExifToolVersion",
    "Composite:ImageSize",
    "Composite:Megapixels",
})
DERIVED_GROUPS = ("System:",)  # file name, size, dates and permissions of the file on disk

# Stored in the file, but only how the pixels are encoded.
STRUCTURAL = frozenset({
    # every format
    "File:FileType", "File:FileTypeExtension", "File:MIMEType",
    # JPEG: frame header and the JFIF APP0 segment (no thumbnail: JFIF:ThumbnailImage is not allowed)
    "File:ImageWidth", "File:ImageHeight", "File:BitsPerSample", "File:ColorComponents",
    "File:EncodingProcess", "File:YCbCrSubSampling",
    "JFIF:JFIFVersion", "JFIF:ResolutionUnit", "JFIF:XResolution", "JFIF:YResolution",
    # PNG: IHDR
    "PNG:ImageWidth", "PNG:ImageHeight", "PNG:BitDepth", "PNG:ColorType", "PNG:Compression",
    "PNG:Filter", "PNG:Interlace",
    # WebP: VP8/VP8L/VP8X/ALPH headers
    "RIFF:ImageWidth", "RIFF:ImageHeight", "RIFF:VP8Version", "RIFF:HorizontalScale", "RIFF:VerticalScale",
    "RIFF:WebP_Flags", "RIFF:AlphaCompression", "RIFF:AlphaFiltering", "RIFF:AlphaPreprocessing",
})


def is_structural(key: str) -> bool:
    return key in DERIVED or key in STRUCTURAL or key.startswith(DERIVED_GROUPS)


def non_structural(tags: dict[str, Any]) -> dict[str, Any]:
    """The tags of one exiftool JSON record that are not on the allowlist."""
    return {k: v for k, v in tags.items() if not is_structural(k)}
