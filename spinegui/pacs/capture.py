"""The annotated view as a DICOM secondary capture, for PACS viewers that ignore SRs.

Drawn here with OpenCV rather than grabbed from the window so the command
line makes the same picture as the window, and so it shows the reviewed
truth at the image's own resolution whatever the zoom on screen. It is a
picture for people: the numbers of record are in the Structured Report.
"""

from __future__ import annotations

import cv2
import highdicom as hd
import numpy as np
from pydicom import Dataset

from spinegui.core.curves import CurveSet
from spinegui.core.geometry import box_polygons, midlines
from spinegui.core.imageio import LoadedImage
from spinegui.pacs.sr_write import MANUFACTURER

SC_SERIES_NUMBER = 9702
SC_SERIES_DESCRIPTION = "spinegui annotated view"
BOX_BGR = (60, 200, 60)
ANGLE_BGR = ((60, 214, 255), (255, 200, 80), (255, 120, 230))
MAX_SIDE = 2048
"""Bigger X-rays are shrunk: the capture is for looking at, and PACS viewers zoom."""


def render_annotated(
    image: LoadedImage, landmarks: np.ndarray, curves: CurveSet, names: tuple[str, ...]
) -> np.ndarray:
    """(H, W, 3) uint8 RGB: the windowed X-ray, green vertebra boxes, Cobb lines and values."""
    grey = np.clip(image.normalized() * 255.0, 0, 255).astype(np.uint8)
    scale = min(1.0, MAX_SIDE / max(grey.shape))
    if scale < 1.0:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    pts = np.asarray(landmarks, float) * scale
    thick = max(1, round(max(canvas.shape) / 700))
    boxes = np.ascontiguousarray(box_polygons(pts).round().astype(np.int32))
    cv2.polylines(canvas, list(boxes), True, BOX_BGR, thick, cv2.LINE_AA)
    lines = midlines(pts)
    font = max(0.35, canvas.shape[0] / 1600)
    for k, curve in enumerate(curves.curves):
        colour = ANGLE_BGR[k % len(ANGLE_BGR)]
        for v in (curve.upper, curve.lower):
            a, b = lines[v]
            d = b - a
            p, q = (a - d).round().astype(int), (b + d).round().astype(int)
            cv2.line(canvas, tuple(p), tuple(q), colour, thick, cv2.LINE_AA)
        # OpenCV's Hershey fonts have no degree sign or en dash.
        text = curve.name + " " + curve.describe(names).replace("°", " deg").replace("–", "-")
        (width, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, thick)
        size = font * min(1.0, (canvas.shape[1] - 12) / width)  # a narrow X-ray: shrink to fit
        y = int(20 * font / 0.5) * (k + 1)
        cv2.putText(canvas, text, (6, y), cv2.FONT_HERSHEY_SIMPLEX, size, (0, 0, 0), thick + 2)
        cv2.putText(canvas, text, (6, y), cv2.FONT_HERSHEY_SIMPLEX, size, colour, thick)
    return cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)


def build_capture(
    source: Dataset, rgb: np.ndarray, *, series_uid: str, sop_uid: str, instance_number: int
) -> hd.sc.SCImage:
    """A secondary-capture image in the source's patient and study."""
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=source,
        pixel_array=np.ascontiguousarray(rgb),
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        series_instance_uid=series_uid,
        series_number=SC_SERIES_NUMBER,
        sop_instance_uid=sop_uid,
        instance_number=int(instance_number),
        manufacturer=MANUFACTURER,
        patient_orientation=("L", "F"),
        series_description=SC_SERIES_DESCRIPTION,
    )
    sc.BurnedInAnnotation = "YES"
    # Laterality (Type 2C) is for paired organs; naming the body part lets a
    # validator see that the spine is not one.
    sc.BodyPartExamined = str(source.get("BodyPartExamined") or "SPINE")
    return sc
