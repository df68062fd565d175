"""Run plastimatch's ``drr`` on the same geometry as a :class:`miss_imaging.CArm` (reference for bench_drr).

Mapping (checked with an off-centre single-voxel bead against plastimatch's
own projection matrix, ``out0000.txt``): plastimatch's ``--nrm`` is the
detector normal pointing from the isocentre toward the *source* side it
stores negated, so passing ``-beam`` places the source where ``CArm`` does;
``--vup`` is the direction of the top row (``-row_dir``); its column axis
then runs opposite to ours, so the raw output is mirrored left-right.  Its
raw output (``-P none``: the input is attenuation per mm) is the line
integral / 10.  The time excludes its I/O ("Total time" - "I/O time").
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

__all__ = ["available", "write_mu_mha", "plastimatch_drr"]


def available() -> bool:
    return shutil.which("plastimatch") is not None


def write_mu_mha(volume, path: Path, mu_water: float = 0.02) -> Path:
    """Write the volume's attenuation (1/mm, ``hu_to_mu``) as a float32 .mha with its LPS geometry."""
    import SimpleITK as sitk

    from miss_imaging.carm import hu_to_mu

    mu = hu_to_mu(np.asarray(volume.pixels), mu_water)
    img = sitk.GetImageFromArray(mu)  # numpy (k, j, i) -> ITK (i, j, k)
    A = volume.affine[:3, :3]
    sp = np.linalg.norm(A, axis=0)
    img.SetSpacing(tuple(float(v) for v in sp[::-1]))
    img.SetOrigin(tuple(float(v) for v in volume.affine[:3, 3]))
    direction = (A / sp)[:, ::-1]  # columns: i, j, k unit vectors
    img.SetDirection(tuple(float(v) for v in direction.ravel()))
    sitk.WriteImage(img, str(path))
    return path


def plastimatch_drr(mha: Path, carm, outdir: Path, algorithm: str = "exact") -> tuple[np.ndarray, float]:
    """(line integral image (rows, cols) in our pixel convention, seconds excluding I/O)."""
    outdir.mkdir(parents=True, exist_ok=True)
    fmt = lambda v: " ".join(f"{x:.12g}" for x in v)  # noqa: E731
    cmd = [
        "plastimatch", "drr", "-i", algorithm,
        "--nrm", fmt(-carm.beam), "--vup", fmt(-carm.row_dir),
        "--sad", f"{carm.sod:g}", "--sid", f"{carm.sid:g}",
        "-r", f"{carm.rows} {carm.cols}",
        "-z", f"{carm.rows * carm.pixel_mm[0]:g} {carm.cols * carm.pixel_mm[1]:g}",
        "-o", fmt(carm.isocenter), "-P", "none", "-t", "raw", "-O", str(outdir / "out"), str(mha),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    total = float(re.search(r"Total time:\s*([0-9.eE+-]+)", res.stdout).group(1))
    io = float(re.search(r"I/O time:\s*([0-9.eE+-]+)", res.stdout).group(1))
    raw = np.fromfile(outdir / "out0000.raw", dtype=np.float32).reshape(carm.rows, carm.cols)
    return raw[:, ::-1] * 10.0, total - io
