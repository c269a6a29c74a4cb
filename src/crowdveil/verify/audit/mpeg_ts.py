"""MPEG transport streams (``.ts``, AVCHD ``.mts``/``.m2ts``): PAT, PMT, SDT, EIT/TDT tables and AVCHD MDPM data."""

from __future__ import annotations

from typing import Any

from .base import Audit, Malformed

_TS_PACKETS_READ = 4096  # PAT, PMT and SDT repeat every few hundred ms; this many packets see them
# PMT stream types that carry no picture or sound: timed metadata (ID3, KLV), data carousels.
_TS_METADATA_TYPES = {0x15: "timed metadata track", 0x05: "unknown metadata", 0x0B: "unknown metadata",
                      0x0C: "unknown metadata", 0x0D: "unknown metadata"}
# AVCHD cameras write date, time, exposure, often GPS and model into an H.264 SEI of every frame.
_AVCHD_MDPM = bytes.fromhex("17EE8C60F84D11D98CD60800200C9A66") + b"MDPM"


def parse_mpeg_ts(data: Any, audit: Audit) -> None:
    n = len(data)
    first, step = (0, 188) if data[0] == 0x47 else (4, 192)
    pmt_pids: set[int] = set()
    seen = 0
    for pos in range(first, n, step):
        if pos + 188 > n:
            if pos < n:
                raise Malformed("packet past the end of the file (truncated)")
            break
        if data[pos] != 0x47:
            raise Malformed(f"sync byte missing at {pos}")
        seen += 1
        if seen > _TS_PACKETS_READ:
            break
        pid = ((data[pos + 1] & 0x1F) << 8) | data[pos + 2]
        start = data[pos + 1] & 0x40
        adaptation = (data[pos + 3] >> 4) & 3
        payload = pos + 4
        if adaptation in (2, 3):
            payload += 1 + data[pos + 4]
        if not start or adaptation == 2 or payload >= pos + 188:
            continue
        section = payload + 1 + data[payload]  # pointer field
        if section + 3 > pos + 188:
            continue
        table = data[section]
        length = ((data[section + 1] & 0x0F) << 8) | data[section + 2]
        body_end = min(pos + 188, section + 3 + length)
        if pid == 0 and table == 0:
            for at in range(section + 8, body_end - 4 - 3, 4):
                program = (data[at] << 8) | data[at + 1]
                if program:
                    pmt_pids.add(((data[at + 2] & 0x1F) << 8) | data[at + 3])
            audit._note("MPEG-TS PAT")
        elif pid in pmt_pids and table == 2:
            _walk_ts_pmt(data, section, body_end, audit)
        elif pid == 0x11 and table == 0x42:
            _walk_ts_sdt(data, section, body_end, audit)
        elif pid == 0x12 or pid == 0x14:
            audit._flag("timestamps" if pid == 0x14 else "unknown metadata", f"MPEG-TS {'TDT/TOT' if pid == 0x14 else 'EIT'} table")
    if n % step:
        raise Malformed("the last packet is cut short (truncated)")
    if data.find(_AVCHD_MDPM) >= 0:
        audit._flag("timed metadata track", "MPEG-TS H.264 SEI MDPM (AVCHD camera data: date, settings, GPS)")
    if first == 4:
        audit._note("M2TS 4-byte time codes")


def _walk_ts_pmt(data: Any, section: int, end: int, audit: Audit) -> None:
    info_length = ((data[section + 10] & 0x0F) << 8) | data[section + 11]
    at = section + 12 + info_length
    while at + 5 <= end - 4:
        stream_type = data[at]
        es_info = ((data[at + 3] & 0x0F) << 8) | data[at + 4]
        if stream_type in _TS_METADATA_TYPES:
            audit._flag(_TS_METADATA_TYPES[stream_type], f"MPEG-TS stream type 0x{stream_type:02X}")
        else:
            audit._note(f"MPEG-TS stream type 0x{stream_type:02X}")
        at += 5 + es_info
    audit._note("MPEG-TS PMT")


def _walk_ts_sdt(data: Any, section: int, end: int, audit: Audit) -> None:
    """Service descriptors name the provider and the service (muxers write their own name there)."""
    at = section + 11
    while at + 5 <= end - 4:
        loop = ((data[at + 3] & 0x0F) << 8) | data[at + 4]
        d = at + 5
        while d + 2 <= min(end - 4, at + 5 + loop):
            tag, size = data[d], data[d + 1]
            if tag == 0x48 and d + 4 <= end:
                provider_length = data[d + 3]
                provider = bytes(data[d + 4 : d + 4 + provider_length])
                service = bytes(data[d + 5 + provider_length : d + 2 + size])
                where = "MPEG-TS SDT service descriptor"
                if provider:
                    audit._flag("software" if provider.endswith(b"FFmpeg") else "text chunk", f"{where} provider name")
                if service.lstrip(b"\x01\x15") not in (b"", b"Service01"):  # muxers put the title here
                    audit._flag("comment", f"{where} service name")
            d += 2 + size
        at += 5 + loop
