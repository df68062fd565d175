"""``miss-imaging demo``: print the scene with truth beside each value, write the picture and the SR."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from miss_imaging.demo.display import viewer_demo, virtual_display
from miss_imaging.demo.scene import DemoItem, demo_scene, describe_scene

__all__ = ["run_demo", "render_demo"]


def render_demo(items: Sequence[DemoItem], out: Path) -> None:
    """The demo picture with the core renderer (numpy + Pillow, no X server): the series side by side."""
    from miss_imaging.display.render import Line, render_slice, save_png, side_by_side

    images = []
    for it in items:
        lines = [Line(*r.points_index, r.measurement.text) for r in it.rulers]
        for o in it.overlays:  # drawings as segments, labelled once
            pts = [(float(p[0]), float(p[1]), float(p[2])) for p in o.points_index]
            pts += pts[:1] if o.closed else []
            lines += [Line(a, b, o.text if k == 0 else "") for k, (a, b) in enumerate(zip(pts, pts[1:]))]
        images.append(render_slice(it.volume, window=it.window, lines=lines, width_px=560, blank=it.blank).image)
    save_png(side_by_side(images), out)


def _tail(err: str) -> str:
    return err.strip().splitlines()[-1] if err.strip() else "no output"


def _napari_picture(out: Path, headless: bool, no_viewer: bool) -> str:
    """The napari picture on the screen (shown) or on a private Xvfb; how it was made, "" when it was not."""
    if os.environ.get("DISPLAY") and not headless:
        ok, err = viewer_demo(out, show=True, env=dict(os.environ))
        if not ok:
            print(f"napari viewer failed ({_tail(err)}); rendering with the core renderer instead", file=sys.stderr)
        return "napari viewer (closed by the user)"
    if no_viewer or not shutil.which("Xvfb"):
        return ""
    try:
        with virtual_display() as display:
            env = dict(os.environ, DISPLAY=display)
            env.pop("QT_QPA_PLATFORM", None)  # offscreen Qt cannot render GL layers (ENVIRONMENT.md)
            ok, err = viewer_demo(out, show=False, env=env)
    except (OSError, RuntimeError) as e:
        print(f"Xvfb unavailable ({e}); rendering with the core renderer instead", file=sys.stderr)
        return ""
    if not ok:
        print(f"napari under Xvfb failed ({_tail(err)}); rendering with the core renderer instead", file=sys.stderr)
    return f"napari viewer screenshot on a virtual display (Xvfb {display})"


def run_demo(out: Path, *, headless: bool = False, no_viewer: bool = False,
             phantom: Literal["lumbar", "beads"] = "lumbar") -> int:
    """Print the demo scene, write the picture `out` and its SR package beside it; exit status 0.

    The napari picture (child process) shows the default lumbar scene; the
    bead phantoms are drawn by the core renderer.
    """
    from miss_imaging.demo.sr import write_demo_sr

    items = demo_scene(phantom=phantom)
    no_viewer = no_viewer or phantom != "lumbar"
    if out.exists():
        out.unlink()  # never report a stale picture as this run's
    print(describe_scene(items), flush=True)  # before a viewer window blocks
    how = _napari_picture(out, headless, no_viewer)
    if not out.is_file():
        render_demo(items, out)
        how = "core renderer (no X server: numpy + Pillow)"
    print(f"picture: {out} ({how})")
    print(write_demo_sr(items, out))  # issue 17: the measurements as DICOM SR beside the picture
    return 0
