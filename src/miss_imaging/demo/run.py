"""``miss-imaging demo``: print the scene with truth beside each value, write the picture and the SR."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from miss_imaging.demo.display import viewer_demo, virtual_display
from miss_imaging.demo.scene import DemoItem, demo_scene, describe_scene

__all__ = ["run_demo", "render_demo"]


def render_demo(items: Sequence[DemoItem], out: Path) -> None:
    """The demo picture with the core renderer (numpy + Pillow, no X server): the series side by side."""
    from miss_imaging.display.render import Line, render_slice, save_png, side_by_side

    images = []
    for it in items:
        r = render_slice(it.volume, window=it.window, lines=[Line(*it.points_index, it.measurement.text)],
                         width_px=560, blank=it.blank)
        images.append(r.image)
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


def run_demo(out: Path, *, headless: bool = False, no_viewer: bool = False) -> int:
    """Print the demo scene, write the picture `out` and its SR package beside it; exit status 0."""
    from miss_imaging.demo.sr import write_demo_sr

    items = demo_scene()
    if out.exists():
        out.unlink()  # never report a stale picture as this run's
    print(describe_scene(items), flush=True)  # before a viewer window blocks
    for it in items:  # the spine tools on the CT phantom: its screw with its breach grade, an access plan
        if it.volume.kind == "volume" and it.volume.modality == "CT":
            from miss_imaging.demo.spine import spine_demo_text

            print(spine_demo_text(it.volume), flush=True)
    how = _napari_picture(out, headless, no_viewer)
    if not out.is_file():
        render_demo(items, out)
        how = "core renderer (no X server: numpy + Pillow)"
    print(f"picture: {out} ({how})")
    print(write_demo_sr(items, out))  # issue 17: the measurements as DICOM SR beside the picture
    return 0
