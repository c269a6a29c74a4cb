"""``crowdveil studio [FOLDER]``: review and export in the browser, on this machine only."""

from __future__ import annotations

import sys
import webbrowser
from pathlib import Path

import click

from ..config import COVERS, SHAPES, STYLES, Config


def _covers(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    from ..i18n import catalog

    names = tuple(part.strip().lower() for part in value.split(",") if part.strip())
    unknown = [n for n in names if n not in COVERS]
    if unknown:
        raise click.BadParameter(catalog("cli")("usage.unknown_cover", name=repr(unknown[0]), covers=", ".join(COVERS)))
    return names


@click.command("studio")
@click.argument("folder", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Save safe copies here (default: FOLDER-veiled beside FOLDER, or ./veiled).")
@click.option("--style", type=click.Choice(STYLES), default="fill", show_default=True,
              help="Starting style; it can be changed per photo in the page.")
@click.option("--shape", type=click.Choice(SHAPES), default="box", show_default=True)
@click.option("--fast", is_flag=True, help="Faster detection with lower recall on tiny faces.")
@click.option("--threshold", type=click.FloatRange(0.01, 0.99), default=None, help="Detector score threshold.")
@click.option("--padding", type=click.FloatRange(0.25, 2.0), default=0.3, show_default=True)
@click.option("--cover", default="faces", show_default=True, callback=_covers,
              help="What the page starts covering besides faces: text (plates, signs, badges: found when a photo is "
                   "added, suggested covered), bodies. Both can be switched per file in the page. Example: --cover text")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Port on 127.0.0.1 (default: any free one).")
@click.option("--max-upload-mb", type=click.IntRange(1, 1 << 20), default=2048, show_default=True,
              help="Largest file the page accepts.")
@click.option("--names", type=click.Choice(["neutral", "keep"]), default="neutral", show_default=True,
              help="Name exports veiled-0001.jpg… (neutral: a phone's file name tells when, a renamed one who), "
                   "or NAME.veiled.EXT (keep).")
@click.option("--no-browser", is_flag=True, help="Print the link without opening a browser.")
def studio(folder, out_dir, style, shape, fast, threshold, padding, cover, port, max_upload_mb, names, no_browser):
    """Review photos and videos in your browser: see the faces found, remove or
    add regions by hand, then export verified copies.

    Runs only on this machine (127.0.0.1); nothing is sent anywhere. Open the
    printed link in a browser on this computer; it works once.
    """
    from ..cli_support import EXIT, console, guarded as _guarded
    from ..ui import shown
    from .server import StudioServer
    from .workspace import Workspace

    if out_dir is None:
        out_dir = folder.resolve().parent / f"{folder.resolve().name}-veiled" if folder else Path("veiled")
    config = Config(style=style, shape=shape, preset="fast" if fast else "default", threshold=threshold,
                    padding=padding, cover=cover)
    workspace = Workspace(config, out_dir, max_upload_bytes=max_upload_mb << 20, names=names)
    _guarded(lambda: workspace.detector)  # missing weights: say so now, not in the page
    server = StudioServer(workspace, port)
    if folder:
        added = workspace.add_folder(folder)
        console.print(f"{len(added)} photo(s)/video(s) from {shown(folder)}")
    console.print(f"safe copies go to: {shown(workspace.out_dir)}")
    console.print(f"crowdveil studio is running at:\n\n  {server.url}\n")
    console.print("Open that link in a browser on this computer (it works once). Press Ctrl-C here to stop;\n"
                  "uploaded originals and previews are deleted when the studio stops.")
    if not no_browser:
        try:
            # The link itself would sit on the browser's command line, readable by every local user.
            webbrowser.open(server.write_launcher().as_uri())
        except Exception:  # no browser here: the printed link is enough
            pass
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    sys.exit(EXIT["ok"])
