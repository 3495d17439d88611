"""Load time and peak memory of ``load_image`` per format, at a typical and a large size.

Run: ``python bench/bench_imageio.py [--repeat N] [--sizes 1000x2500,4000x10000]``

Each load runs in a fresh child process and reports the rise of its peak
resident set size (VmHWM, else ``ru_maxrss``) across the call: unlike
tracemalloc this sees OpenCV's and pydicom's native allocations. The "target" column is the decoded
integer image plus the float32 result, the least a load can hold at once.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

REPO_ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("jpeg8", "png16", "tiff16", "dicom16")

# Linux keeps ru_maxrss across exec, so a child would inherit this (large) parent's
# peak; VmHWM in /proc is per process image and is used where it exists.
CHILD = """
import json, resource, sys, time
from spinegui.core.imageio import load_image

def peak_kib():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

before = peak_kib()
start = time.perf_counter()
image = load_image(sys.argv[1])
seconds = time.perf_counter() - start
after = peak_kib()
print(json.dumps({"seconds": seconds, "peak_kib": after - before, "bits": image.bit_depth}))
"""


def synthetic_xray(width: int, height: int) -> np.ndarray:
    """12-bit values in uint16: soft tissue gradient, a bright spine band, mild noise.

    Noise keeps the compressed size realistic; pure noise would make PNG far
    larger (and slower) than real radiographs.
    """
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    image = 900.0 + 600.0 * y + 1800.0 * np.exp(-((x / 0.12) ** 2)) * (0.8 + 0.2 * np.cos(60 * y))
    image = image + np.random.default_rng(0).normal(0, 20, (height, width)).astype(np.float32)
    return np.clip(image, 0, 4095).astype(np.uint16)


def write_dicom(path: Path, stored: np.ndarray) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, generate_uid()
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME1"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = "1", "0"
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    ds.PixelSpacing = [0.143, 0.143]
    ds.PixelData = stored.tobytes()
    ds.save_as(path, enforce_file_format=True)


def write_case(folder: Path, fmt: str, width: int, height: int) -> Path:
    stored = synthetic_xray(width, height)
    path = folder / f"{fmt}_{width}x{height}"
    if fmt == "jpeg8":
        path = path.with_suffix(".jpg")
        cv2.imwrite(str(path), (stored >> 4).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 95])
    elif fmt == "png16":
        path = path.with_suffix(".png")
        cv2.imwrite(str(path), stored)
    elif fmt == "tiff16":
        path = path.with_suffix(".tif")
        cv2.imwrite(str(path), stored)
    else:
        path = path.with_suffix(".dcm")
        write_dicom(path, stored)
    return path


def measure(path: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="child processes per file")
    parser.add_argument("--sizes", default="1000x2500,4000x10000", help="WxH,WxH,...")
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]

    header = (
        f"{'format':<8} {'size':>11} {'file MB':>8} {'load s':>7} "
        f"{'peak RSS+ MB':>13} {'target MB':>10}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="bench_imageio_") as tmp:
        for width, height in sizes:
            for fmt in FORMATS:
                path = write_case(Path(tmp), fmt, width, height)
                runs = [measure(path) for _ in range(args.repeat)]
                seconds = min(r["seconds"] for r in runs)
                peak_mb = statistics.median(r["peak_kib"] for r in runs) * 1024 / 1e6
                decoded_bytes = 1 if fmt == "jpeg8" else 2
                target_mb = width * height * (decoded_bytes + 4) / 1e6
                print(
                    f"{fmt:<8} {f'{width}x{height}':>11} {path.stat().st_size / 1e6:>8.1f} "
                    f"{seconds:>7.3f} {peak_mb:>13.0f} {target_mb:>10.0f}"
                )
                path.unlink()


if __name__ == "__main__":
    main()
