"""The napari adapter in a child process, on a screen or on a private Xvfb display.

The core never imports napari: ``view`` and the demo's picture run
``python -m <adapter>._app`` in a child process, found through the
``napari.manifest`` entry point the package installs.  With no screen the
demo gives that child its own Xvfb (``-displayfd``: Xvfb picks a free
display number itself, so parallel runs never collide).
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from miss_imaging.errors import MissImagingError

__all__ = ["PLUGIN_NAME", "XVFB_SCREEN", "adapter_module", "start_xvfb", "virtual_display", "viewer_demo"]

PLUGIN_NAME = "miss-imaging"  # npe2 plugin name (napari.yaml `name`)
XVFB_SCREEN = "1600x1000x24"


def adapter_module() -> str:
    """Module path of the napari adapter's app runner, via the installed napari manifest entry point."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="napari.manifest"):
        if ep.name == PLUGIN_NAME:
            return ep.value.split(":")[0] + "._app"
    raise MissImagingError("the napari adapter is not installed: pip install 'miss-imaging[napari]'")


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    """Start Xvfb on a display number it picks itself; (process, ``":N"``) once it accepts clients.

    Raises
    ------
    RuntimeError
        Xvfb did not report a display within 10 s.
    """
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", XVFB_SCREEN, "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(write_fd,))
    finally:
        os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        ready, _, _ = select.select([pipe], [], [], 10.0)  # Xvfb writes "N\n" when it is ready
        number = pipe.readline().strip() if ready else b""
    if not number.isdigit():
        proc.kill()
        raise RuntimeError("Xvfb did not report a display within 10 s")
    return proc, f":{number.decode()}"


@contextlib.contextmanager
def virtual_display() -> Iterator[str]:
    """A private Xvfb display (``":N"``) for the duration of the block; the server is stopped after."""
    proc, display = start_xvfb()
    try:
        yield display
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def viewer_demo(out: Path, show: bool, env: dict[str, str]) -> tuple[bool, str]:
    """Run the napari demo in a child process; (succeeded, its stderr tail)."""
    cmd = [sys.executable, "-m", adapter_module(), "demo", "--out", str(out)] + (["--show"] if show else [])
    # shown: the child's notes go straight to the terminal while its windows are open
    proc = subprocess.run(cmd, env=env, stdout=None if show else subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.stdout and proc.stdout.strip():
        print(proc.stdout.rstrip())
    return proc.returncode == 0 and out.is_file(), proc.stderr[-2000:]
