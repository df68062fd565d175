"""Virtual C-arm DRR benchmark (issue 14).

Input: a 512x512x300 int16 CT (0.7 x 0.7 mm pixels, 1.0 mm slices, axial),
a seeded synthetic torso: elliptic soft-tissue body with fat, a column of
vertebral bodies (cortical shell, cancellous core), a canal, two converging
pedicle screws (titanium HU), an in-plane Gaussian point spread
(sigma 0.6 pixel, as a CT reconstruction kernel) and Gaussian noise.  Detector 512 x 512 at 0.4 mm, SID
1000, SOD 750, isocentre at the vertebral column (as in ../shared/REFERENCE.md 9).

Groups "DRR 512^2 from 512x512x300, <pose>" for AP (0/0), lateral (LAO 90)
and oblique (LAO 30, cranial 15):

* limit kernel: a parallel-beam projection of the CT along y (every voxel
  read once, ``np.add.reduce(..., dtype=float32)``): what any DRR must at
  least touch.
* ``miss_imaging.carm.line_integrals`` (plane sweep + shear-warp, 2 threads).
* references: plastimatch 1.9 ``drr -i exact`` (Siddon) and ``-i uniform``
  on the same geometry and attenuation (``-P none`` on a float .mha of
  ``hu_to_mu``), timed by its own "Total time - I/O time" in the same run.
  The note gives the RMS difference of our line integrals from plastimatch
  exact, relative to plastimatch's RMS over the exposed body.

Bars (issue 14): every pose <= plastimatch exact; AP and lateral <= half;
agreement <= 0.5 % RMS.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _plastimatch as pm  # noqa: E402
from _harness import Row, interleaved, peak_extra_mb  # noqa: E402

from miss_imaging import CArm, ImageVolume  # noqa: E402
from miss_imaging.carm import line_integrals  # noqa: E402

SHAPE = (300, 512, 512)
SPACING = (1.0, 0.7, 0.7)
POSES = {"AP": (0.0, 0.0), "lateral LAO 90": (90.0, 0.0), "oblique LAO 30 cranial 15": (30.0, 15.0)}


def phantom() -> ImageVolume:
    """Seeded synthetic torso CT in HU (see the module docstring); isocentre (0, 40, 0) LPS."""
    from scipy import ndimage

    rng = np.random.default_rng(14)
    nz, ny, nx = SHAPE
    y = (np.arange(ny) - (ny - 1) / 2) * SPACING[1]
    x = (np.arange(nx) - (nx - 1) / 2) * SPACING[2]
    yy, xx = np.meshgrid(y, x, indexing="ij")
    body = (xx / 170) ** 2 + (yy / 120) ** 2 <= 1
    fat = body & ((xx / 160) ** 2 + (yy / 110) ** 2 > 1)
    vol = np.empty(SHAPE, np.int16)
    for k in range(nz):
        z = (k - (nz - 1) / 2) * SPACING[0]
        sl = np.full((ny, nx), -1000, np.int16)
        sl[body] = 40
        sl[fat] = -100
        phase = (z + 200) % 40  # 30 mm bodies, 10 mm discs
        r2 = xx**2 + (yy - 40) ** 2
        if phase < 30:
            sl[r2 <= 22**2] = 900
            sl[r2 <= 20**2] = 250
        else:
            sl[r2 <= 22**2] = 80
        canal = xx**2 + (yy - 75) ** 2 <= 8**2
        arch = (xx**2 + (yy - 75) ** 2 <= 14**2) & ~canal
        sl[arch] = 700
        sl[canal] = 20
        if abs(z) < 3:  # two pedicle screws converging ~12 degrees medially
            for side in (-1.0, 1.0):
                ax, ay, bx, by = 20 * side, 88.0, 7 * side, 28.0
                u = np.clip(((xx - ax) * (bx - ax) + (yy - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2), 0, 1)
                sl[(xx - ax - u * (bx - ax)) ** 2 + (yy - ay - u * (by - ay)) ** 2 <= 3.0**2] = 3000
        # a reconstruction kernel's point spread (~1 mm FWHM), then quantum noise
        blurred = ndimage.gaussian_filter(sl.astype(np.float32), 0.6)
        vol[k] = np.rint(blurred + rng.normal(0, 15, sl.shape)).astype(np.int16)
    A = np.array([[0, 0, SPACING[2], -(nx - 1) / 2 * SPACING[2]], [0, SPACING[1], 0, -(ny - 1) / 2 * SPACING[1]],
                  [SPACING[0], 0, 0, -(nz - 1) / 2 * SPACING[0]], [0, 0, 0, 1.0]])
    return ImageVolume(vol, SPACING, A, "volume", modality="CT")


def carm(primary: float, secondary: float) -> CArm:
    return CArm(sid=1000, sod=750, primary_deg=primary, secondary_deg=secondary, isocenter=(0.0, 40.0, 0.0),
                rows=512, cols=512, pixel_mm=(0.4, 0.4))


def rms_percent(ours: np.ndarray, ref: np.ndarray) -> float:
    """RMS of the difference over pixels the body shadows, in % of the reference's RMS there."""
    m = ref > 0.05
    return float(100 * np.sqrt(np.mean((ours[m] - ref[m]) ** 2)) / np.sqrt(np.mean(ref[m] ** 2)))


def _pose_rows(v: ImageVolume, mha: Path | None, workdir: Path, name: str, pose: tuple[float, float],
               rounds: int) -> list[Row]:
    group = f"DRR 512^2 from 512x512x300, {name}"
    c = carm(*pose)
    src = v.pixels
    limit = interleaved({"limit": lambda: np.add.reduce(src, axis=1, dtype=np.float32)}, rounds)["limit"]
    rows = [Row(group, "limit: parallel sum along y (read every voxel)", limit, 0.0, "limit")]
    ours_t: list[float] = []
    ref_t: dict[str, list[float]] = {"exact": [], "uniform": []}
    ours = line_integrals(v, c)  # warm
    refs: dict[str, np.ndarray] = {}
    for r in range(rounds):  # interleaved with plastimatch exact, so both see the same machine load
        t0 = time.perf_counter()
        ours = line_integrals(v, c)
        ours_t.append(time.perf_counter() - t0)
        for algo in ("exact", "uniform") if mha is not None else ():
            if algo == "uniform" and r > 0:
                continue  # ~10x slower than exact: one run is enough for its time and agreement
            refs[algo], t = pm.plastimatch_drr(mha, c, workdir / f"pm_{algo}", algo)
            ref_t[algo].append(t)
    med = statistics.median(ours_t)
    note = ""
    if refs:
        note = f"{med / statistics.median(ref_t['exact']):.2f} x plastimatch exact"
    rows.append(Row(group, "miss_imaging.carm.line_integrals (2 threads)", med,
                    peak_extra_mb(lambda: line_integrals(v, c)), "impl", note))
    for algo, ref in refs.items():
        rows.append(Row(group, f"plastimatch drr -i {algo} (its compute time)", statistics.median(ref_t[algo]), 0.0,
                        "reference", f"ours vs it: {rms_percent(ours, ref):.3f} % RMS"))
    return rows


def run(workdir: Path, rounds: int) -> list[Row]:
    """Benchmark rows for the three poses (see the module docstring)."""
    v = phantom()
    mha = pm.write_mu_mha(v, workdir / "ct_mu.mha") if pm.available() else None
    rows: list[Row] = []
    for name, pose in POSES.items():
        rows += _pose_rows(v, mha, workdir, name, pose, rounds)
    return rows


if __name__ == "__main__":
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as d:
        results = run(Path(d), n)
    limits = {r.group: r.median_s for r in results if r.kind == "limit"}
    for r in results:
        lim = limits.get(r.group)
        ratio = f"{r.median_s / lim:6.1f}x limit" if lim else ""
        print(f"{r.group[:44]:44s} | {r.name[:48]:48s} | {r.median_s * 1e3:8.1f} ms | {ratio:13s} | "
              f"{r.peak_extra_mb:7.1f} MB | {r.note}")
