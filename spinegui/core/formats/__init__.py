"""Dataset import and annotation import/export.

Every format reads into and writes from ``AnnotatedImage`` records, so adding
a format never touches the rest of the program.
"""

from spinegui.core.formats.aasce import AasceImport, NoiseFinding, read_aasce, write_aasce
from spinegui.core.formats.coco import read_coco, write_coco
from spinegui.core.formats.csvlong import read_csv, write_csv
from spinegui.core.formats.records import AnnotatedImage

__all__ = [
    "AasceImport",
    "AnnotatedImage",
    "NoiseFinding",
    "read_aasce",
    "read_coco",
    "read_csv",
    "write_aasce",
    "write_coco",
    "write_csv",
]
