"""Image input: real files written with OpenCV and pydicom, read back through load_image."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

from spinegui.core.errors import ImageLoadError
from spinegui.core.imageio import (
    DEFAULT_MAX_PIXELS,
    LoadedImage,
    file_sha256,
    load_image,
    read_image_size,
)

H, W = 60, 40
RNG = np.random.default_rng(1234)
GRAY8 = RNG.integers(0, 256, (H, W), dtype=np.uint8)
GRAY16 = RNG.integers(0, 65536, (H, W), dtype=np.uint16)


def write(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), image)
    return path


def smooth8() -> np.ndarray:
    """A gradient JPEG reproduces almost exactly, unlike noise."""
    y, x = np.mgrid[0:H, 0:W]
    return (2 * y + x).astype(np.uint8)


def write_dicom(path: Path, stored: np.ndarray, *, preamble: bool = True, **tags) -> Path:
    """An uncompressed little-endian DICOM file; ``tags`` override or add elements."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = stored.shape[1:3] if "NumberOfFrames" in tags else stored.shape[:2]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = stored.dtype.itemsize * 8
    ds.BitsStored = ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if stored.dtype.kind == "i" else 0
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    if "HighBit" not in tags:
        ds.HighBit = ds.BitsStored - 1
    ds.PixelData = stored.tobytes()
    if preamble:
        ds.save_as(path, enforce_file_format=True)
    else:  # an old-style file: bare implicit-VR dataset, no preamble, no file meta
        del ds.file_meta
        ds.preamble = None
        ds.save_as(path, implicit_vr=True, little_endian=True)
    return path


def assert_load_error(path: Path, *words: str, **kwargs) -> ImageLoadError:
    with pytest.raises(ImageLoadError) as info:
        load_image(path, **kwargs)
    err = info.value
    assert path.name in err.message
    assert err.hint
    for word in words:
        assert word.lower() in str(err).lower()
    return err


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "stored", "fmt", "bits"),
    [
        ("a.png", GRAY8, "png", 8),
        ("a16.png", GRAY16, "png", 16),
        ("a.bmp", GRAY8, "bmp", 8),
        ("a.tif", GRAY8, "tiff", 8),
        ("a16.tiff", GRAY16, "tiff", 16),
        ("f32.tif", GRAY16.astype(np.float32) / 7, "tiff", 32),
    ],
)
def test_lossless_formats_round_trip_stored_values(tmp_path, name, stored, fmt, bits):
    image = load_image(write(tmp_path / name, stored))
    assert isinstance(image, LoadedImage)
    assert (image.format, image.bit_depth, image.width, image.height) == (fmt, bits, W, H)
    assert image.pixels.dtype == np.float32
    assert image.pixels.flags.c_contiguous
    np.testing.assert_array_equal(image.pixels, stored.astype(np.float32))
    assert image.spacing_mm is None
    assert image.path == tmp_path / name


def test_jpeg_round_trips_within_compression_error(tmp_path):
    stored = smooth8()
    path = tmp_path / "a.jpg"
    assert cv2.imwrite(str(path), stored, [cv2.IMWRITE_JPEG_QUALITY, 100])
    image = load_image(path)
    assert (image.format, image.bit_depth, image.pixels.shape) == ("jpeg", 8, (H, W))
    assert np.abs(image.pixels - stored).max() <= 2


def test_eight_bit_window_is_full_range_so_normalized_is_value_over_255(tmp_path):
    image = load_image(write(tmp_path / "a.png", GRAY8))
    assert image.window == (127.5, 255.0)
    assert image.levels == (0.0, 255.0)
    np.testing.assert_allclose(image.normalized(), GRAY8 / 255.0, atol=1e-6)


def test_sixteen_bit_window_spans_robust_percentiles(tmp_path):
    ramp = np.linspace(1000, 5000, H * W).reshape(H, W).astype(np.uint16)
    image = load_image(write(tmp_path / "ramp.png", ramp))
    low, high = image.levels
    assert low == pytest.approx(np.percentile(ramp, 0.5), abs=1)
    assert high == pytest.approx(np.percentile(ramp, 99.5), abs=1)
    normalized = image.normalized()
    assert normalized.dtype == np.float32 and normalized.shape == (H, W)
    assert normalized.min() == 0.0 and normalized.max() == 1.0


def test_pixels_are_read_only_and_normalized_returns_a_fresh_array(tmp_path):
    image = load_image(write(tmp_path / "a.png", GRAY8))
    with pytest.raises(ValueError):
        image.pixels[0, 0] = 1
    normalized = image.normalized()
    normalized[0, 0] = 7
    assert image.pixels[0, 0] == GRAY8[0, 0]


@pytest.mark.parametrize(("name", "dtype"), [("c.png", np.uint8), ("c.bmp", np.uint8)])
def test_colour_becomes_luma(tmp_path, name, dtype):
    bgr = np.zeros((H, W, 3), dtype)
    bgr[:20, :, 0] = 200  # blue band
    bgr[20:40, :, 1] = 200  # green band
    bgr[40:, :, 2] = 200  # red band
    image = load_image(write(tmp_path / name, bgr))
    assert image.pixels.shape == (H, W)
    expected = [0.114 * 200, 0.587 * 200, 0.299 * 200]
    for band, value in zip((0, 20, 40), expected, strict=True):
        assert image.pixels[band + 5, 5] == pytest.approx(value, abs=1)


def test_sixteen_bit_colour_png_keeps_its_depth(tmp_path):
    bgr = np.dstack([GRAY16, GRAY16, GRAY16])
    image = load_image(write(tmp_path / "c16.png", bgr))
    assert image.bit_depth == 16
    np.testing.assert_allclose(image.pixels, GRAY16, atol=1)


def test_format_is_decided_by_content_not_extension(tmp_path):
    path = write(tmp_path / "a.png", GRAY8).rename(tmp_path / "really_png.jpg")
    assert load_image(path).format == "png"


def test_jpeg_with_large_metadata_segment_before_the_frame_header(tmp_path):
    ok, encoded = cv2.imencode(".jpg", smooth8())
    assert ok
    app1 = b"\xff\xe1" + struct.pack(">H", 40_002) + b"\0" * 40_000
    path = tmp_path / "exif.jpg"
    path.write_bytes(encoded.tobytes()[:2] + app1 + encoded.tobytes()[2:])
    assert read_image_size(path) == (W, H)
    assert load_image(path).pixels.shape == (H, W)


# --- DICOM -------------------------------------------------------------------------------------


def test_dicom_round_trips_stored_values_and_reports_bits_stored(tmp_path):
    stored = RNG.integers(0, 4096, (H, W), dtype=np.uint16)
    image = load_image(write_dicom(tmp_path / "a.dcm", stored, BitsStored=12))
    assert (image.format, image.bit_depth, image.width, image.height) == ("dicom", 12, W, H)
    assert image.pixels.dtype == np.float32 and image.pixels.flags.c_contiguous
    np.testing.assert_array_equal(image.pixels, stored)


def test_dicom_is_recognised_by_content_without_extension(tmp_path):
    stored = RNG.integers(0, 4096, (H, W), dtype=np.uint16)
    image = load_image(write_dicom(tmp_path / "IM000001", stored))
    assert image.format == "dicom"
    np.testing.assert_array_equal(image.pixels, stored)


@pytest.mark.parametrize("name", ["old.dcm", "OLDFILE"])
def test_dicom_without_preamble_or_file_meta(tmp_path, name):
    stored = RNG.integers(0, 4096, (H, W), dtype=np.uint16)
    path = write_dicom(tmp_path / name, stored, preamble=False)
    assert path.read_bytes()[128:132] != b"DICM"
    image = load_image(path)
    assert image.format == "dicom"
    np.testing.assert_array_equal(image.pixels, stored)


def test_monochrome1_is_inverted_over_the_stored_range(tmp_path):
    stored = RNG.integers(0, 4096, (H, W), dtype=np.uint16)
    path = write_dicom(
        tmp_path / "m1.dcm",
        stored,
        BitsStored=12,
        PhotometricInterpretation="MONOCHROME1",
        WindowCenter=1000,
        WindowWidth=500,
    )
    image = load_image(path)
    np.testing.assert_array_equal(image.pixels, 4095.0 - stored)
    assert image.window == (3095.0, 500.0)


def test_rescale_slope_and_intercept_are_applied(tmp_path):
    stored = RNG.integers(0, 4096, (H, W), dtype=np.uint16)
    path = write_dicom(tmp_path / "ct.dcm", stored, RescaleSlope="0.5", RescaleIntercept="-1024")
    np.testing.assert_allclose(load_image(path).pixels, stored * 0.5 - 1024)


def test_signed_pixels_are_kept_signed(tmp_path):
    stored = RNG.integers(-2000, 2000, (H, W), dtype=np.int16)
    np.testing.assert_array_equal(
        load_image(write_dicom(tmp_path / "s.dcm", stored)).pixels, stored
    )


def test_first_voi_window_is_the_default_and_normalized_applies_it(tmp_path):
    stored = np.tile(np.array([0, 100, 200, 300], np.uint16), (H, W // 4))
    path = write_dicom(
        tmp_path / "voi.dcm", stored, WindowCenter=[100, 2000], WindowWidth=[200, 4000]
    )
    image = load_image(path)
    assert image.window == (100.0, 200.0)
    np.testing.assert_allclose(image.normalized()[0, :4], [0.0, 0.5, 1.0, 1.0])


def test_window_falls_back_to_percentiles_without_voi_tags(tmp_path):
    stored = np.linspace(0, 4000, H * W).reshape(H, W).astype(np.uint16)
    image = load_image(write_dicom(tmp_path / "novoi.dcm", stored))
    low, high = image.levels
    assert low == pytest.approx(np.percentile(stored, 0.5), abs=1)
    assert high == pytest.approx(np.percentile(stored, 99.5), abs=1)


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"PixelSpacing": [0.2, 0.1]}, (0.2, 0.1)),
        ({"ImagerPixelSpacing": [0.15, 0.14]}, (0.15, 0.14)),
        ({"PixelSpacing": [0.2, 0.1], "ImagerPixelSpacing": [0.15, 0.14]}, (0.2, 0.1)),
        ({}, None),
    ],
)
def test_pixel_spacing_is_row_col_and_prefers_pixel_spacing(tmp_path, tags, expected):
    path = write_dicom(tmp_path / "sp.dcm", GRAY16, **tags)
    assert load_image(path).spacing_mm == expected


def test_multiframe_dicom_loads_the_first_frame(tmp_path):
    frames = RNG.integers(0, 4096, (3, H, W), dtype=np.uint16)
    path = write_dicom(tmp_path / "mf.dcm", frames, NumberOfFrames=3)
    np.testing.assert_array_equal(load_image(path).pixels, frames[0])


def test_rgb_dicom_becomes_luma(tmp_path):
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 1] = 200
    path = write_dicom(
        tmp_path / "rgb.dcm",
        rgb,
        SamplesPerPixel=3,
        PhotometricInterpretation="RGB",
        PlanarConfiguration=0,
        BitsStored=8,
    )
    np.testing.assert_allclose(load_image(path).pixels, 0.587 * 200, atol=0.01)


def test_compressed_dicom_decodes_or_says_how_to_fix_it(tmp_path):
    """Without a pydicom JPEG plugin the user must learn what to do; with one it loads."""
    path = write_dicom(tmp_path / "jpeg.dcm", GRAY8, BitsStored=8)
    ds = pydicom.dcmread(path)
    ok, encoded = cv2.imencode(".jpg", smooth8(), [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    ds.PixelData = encapsulate([encoded.tobytes()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.save_as(path)
    try:
        image = load_image(path)
    except ImageLoadError as err:
        assert "compressed with JPEG Baseline" in err.message
        assert "uncompressed" in err.hint
    else:
        assert np.abs(image.pixels - smooth8()).max() <= 2


# --- hashing and header-only size --------------------------------------------------------------


def test_sha256_matches_hashlib_in_image_and_helper(tmp_path):
    path = write_dicom(tmp_path / "h.dcm", GRAY16)
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_image(path).sha256 == expected
    assert file_sha256(path) == expected
    assert file_sha256(str(path)) == expected


@pytest.mark.parametrize("name", ["s.png", "s.jpg", "s.bmp", "s.tif", "s16.tiff"])
def test_read_image_size_from_header(tmp_path, name):
    stored = GRAY16 if "16" in name else GRAY8
    assert read_image_size(write(tmp_path / name, stored)) == (W, H)


def tiff_header(order: str, big: bool, width: int, height: int) -> bytes:
    """The first IFD of a TIFF, just enough for a header-only size."""
    mark = b"II" if order == "<" else b"MM"
    if big:  # BigTIFF: LONG8 counts and offsets, 20-byte entries; height as LONG8 (type 16)
        head = mark + struct.pack(order + "HHHQ", 43, 8, 0, 16)
        entries = struct.pack(order + "HHQI4x", 256, 4, 1, width)
        entries += struct.pack(order + "HHQQ", 257, 16, 1, height)
        return head + struct.pack(order + "Q", 2) + entries
    head = mark + struct.pack(order + "HI", 42, 8)
    entries = struct.pack(order + "HHIH2x", 256, 3, 1, width)  # SHORT, left-justified
    entries += struct.pack(order + "HHII", 257, 4, 1, height)
    return head + struct.pack(order + "H", 2) + entries + b"\0\0\0\0"


@pytest.mark.parametrize(("order", "big"), [("<", False), (">", False), ("<", True), (">", True)])
def test_read_image_size_of_hand_made_tiff_headers(tmp_path, order, big):
    path = tmp_path / "h.tif"
    path.write_bytes(tiff_header(order, big, 1234, 56789))
    assert read_image_size(path) == (1234, 56789)


def test_top_down_bmp_has_positive_height_and_upright_rows(tmp_path):
    data = bytearray(write(tmp_path / "td.bmp", GRAY8).read_bytes())
    (offset,) = struct.unpack_from("<I", data, 10)
    struct.pack_into("<i", data, 22, -H)
    rows = np.frombuffer(bytes(data[offset:]), np.uint8).reshape(H, W)  # stored bottom-up
    data[offset:] = rows[::-1].tobytes()
    (tmp_path / "td.bmp").write_bytes(bytes(data))
    assert read_image_size(tmp_path / "td.bmp") == (W, H)
    np.testing.assert_array_equal(load_image(tmp_path / "td.bmp").pixels, GRAY8)


def test_read_image_size_of_dicom(tmp_path):
    assert read_image_size(write_dicom(tmp_path / "s.dcm", GRAY16)) == (W, H)


# --- refusing bad input ------------------------------------------------------------------------


def png_with_header_size(path: Path, width: int, height: int) -> Path:
    """A small PNG whose IHDR (with a valid CRC) announces another size."""
    data = bytearray(write(path, GRAY8).read_bytes())
    ihdr = bytearray(data[12:29])  # type + 13 bytes of payload
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    path.write_bytes(bytes(data))
    return path


def test_decompression_bomb_is_refused_from_the_header(tmp_path):
    path = png_with_header_size(tmp_path / "bomb.png", 100_000, 100_000)
    assert read_image_size(path) == (100_000, 100_000)
    assert_load_error(path, "100000 x 100000", "megapixels")


def test_max_pixels_applies_to_valid_images(tmp_path):
    path = write(tmp_path / "ok.png", GRAY8)
    assert_load_error(path, "limit", max_pixels=H * W - 1)
    assert load_image(path, max_pixels=H * W).width == W


def test_dicom_bomb_is_refused_before_pixel_data_is_read(tmp_path):
    path = write_dicom(tmp_path / "bomb.dcm", GRAY16, Rows=60_000, Columns=60_000)
    assert_load_error(path, "60000 x 60000")


def test_default_limit_admits_a_large_full_spine_radiograph():
    assert DEFAULT_MAX_PIXELS >= 4000 * 10000


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert_load_error(path, "empty")


def test_random_bytes_named_png(tmp_path):
    path = tmp_path / "noise.png"
    path.write_bytes(RNG.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    assert_load_error(path, "not an image", "PNG, JPEG")


def test_unsupported_extension_with_junk(tmp_path):
    path = tmp_path / "notes.xyz"
    path.write_bytes(b"hello, this is not an image at all" * 20)
    assert_load_error(path, ".xyz")


@pytest.mark.parametrize(
    ("name", "stored", "keep"),
    [
        ("half.png", GRAY16, 0.5),
        ("half.jpg", GRAY8, 0.5),
        ("noeoi.jpg", GRAY8, -2),  # only the end-of-image marker missing
        ("half.tif", GRAY16, 0.5),
        ("half.bmp", GRAY8, 0.5),
        ("tiny.png", GRAY8, 20),  # cut inside the header
    ],
)
def test_truncated_files(tmp_path, name, stored, keep):
    data = write(tmp_path / name, stored).read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep
    (tmp_path / name).write_bytes(data[:cut])
    assert_load_error(tmp_path / name, "damaged")


def test_truncated_dicom_pixel_data(tmp_path):
    path = write_dicom(tmp_path / "cut.dcm", GRAY16)
    path.write_bytes(path.read_bytes()[: -GRAY16.nbytes // 2])
    assert_load_error(path, "DICOM")


def test_dicom_without_pixel_data(tmp_path):
    path = write_dicom(tmp_path / "nopix.dcm", GRAY16)
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    assert_load_error(path, "no image")


def test_junk_with_dicom_extension(tmp_path):
    path = tmp_path / "junk.dcm"
    path.write_bytes(b"\x07\x00" + RNG.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    assert_load_error(path, "DICOM")


def test_directory_is_refused(tmp_path):
    folder = tmp_path / "scans.png"
    folder.mkdir()
    assert_load_error(folder, "folder")
    with pytest.raises(ImageLoadError):
        read_image_size(folder)


def test_missing_file_is_refused_everywhere(tmp_path):
    path = tmp_path / "gone.png"
    assert_load_error(path, "does not exist")
    for function in (read_image_size, file_sha256):
        with pytest.raises(ImageLoadError, match=r"gone\.png"):
            function(path)
