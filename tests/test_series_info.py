"""The Series browser's texts without Qt: technical info without identifiers, cine rate, skipped files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from miss_imaging.model import ImageVolume, ProjectionTags


def _run(frame_time_ms=None):
    return ImageVolume(np.zeros((5, 8, 8), np.uint16), (1.0, 0.3, 0.3), np.eye(4), "projection", modality="XA",
                       projection=ProjectionTags(frame_time_ms=frame_time_ms), series_description="run",
                       metadata={"KVP": 70.0, "PatientName": "DOE^JANE", "Manufacturer": "ACME"})


def test_technical_info_keeps_technique_and_drops_identifiers():
    from miss_imaging_napari._series_info import technical_info, volume_row

    text = technical_info(_run(66.7))
    assert "KVP: 70.0" in text and "Manufacturer: ACME" in text and "DOE" not in text
    assert volume_row(_run())[1:5] == ("XA", "5", "8x8", "0.3 x 0.3")  # frames, rows x cols, row x col mm


@pytest.mark.parametrize("ft, fps, noted", [(66.7, 1000.0 / 66.7, False), (None, 10.0, True)])
def test_cine_rate_is_1000_over_frame_time_else_an_announced_10(ft, fps, noted):
    from miss_imaging_napari._series_info import cine_rate

    got, note = cine_rate(_run(ft))
    assert got == pytest.approx(fps) and (note is not None) is noted


def test_skipped_files_are_named_once():
    from miss_imaging_napari._series_info import skipped_text

    p = Path("/data/case/IM1")
    assert skipped_text([(p, f"{p}: not DICOM"), (p, "no pixel data")]) == \
        f"skipped {p}: not DICOM\nskipped IM1: no pixel data"
