"""Image input for the headless core: X-ray files in, float32 grey pixels out.

``load_image`` reads PNG, JPEG, BMP, 8/16-bit TIFF and DICOM into a
``LoadedImage``; ``read_image_size`` and ``file_sha256`` answer the two
questions importers and the project store ask without decoding pixels.
"""

from spinegui.core.imageio.files import file_sha256
from spinegui.core.imageio.headers import IMAGE_SUFFIXES, read_image_size
from spinegui.core.imageio.load import DEFAULT_MAX_PIXELS, load_image
from spinegui.core.imageio.loaded import LoadedImage

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "LoadedImage",
    "file_sha256",
    "load_image",
    "read_image_size",
]
