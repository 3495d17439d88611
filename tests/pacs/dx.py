"""Synthetic DX studies from the phantom generator, with made-up patient fields.

Nothing here is real patient data: names, IDs and accession numbers are
invented per test, and the pixels are phantoms with exact landmarks.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

from spinegui.core.phantom import generate_phantom

SIZE = (256, 128)
SPACING_MM = (0.7, 0.7)


@dataclass
class SyntheticDx:
    dataset: Dataset
    landmarks: np.ndarray

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        self.dataset.save_as(buffer, enforce_file_format=True)
        return buffer.getvalue()


def make_dx(
    *,
    patient_id: str,
    patient_name: str = "DOE^JANE",
    accession: str = "ACC0001",
    study_date: str = "20240105",
    study_uid: str | None = None,
    series_uid: str | None = None,
    instance_number: int = 1,
    seed: int = 1,
    modality: str = "DX",
    template: str = "C7-L5",
) -> SyntheticDx:
    phantom = generate_phantom(template, seed, size=SIZE, noise=False, marker=False)
    pixels = np.round(np.clip(phantom.image, 0, 1) * 4095).astype(np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "20100101"
    ds.PatientSex = "F"
    ds.StudyDate = study_date
    ds.StudyTime = "101010"
    ds.AccessionNumber = accession
    ds.Modality = modality
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance_number
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Scoliosis, full spine AP"
    ds.SeriesDescription = "AP standing"
    ds.BodyPartExamined = "SPINE"
    ds.Manufacturer = "Phantom"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.ImagerPixelSpacing = list(SPACING_MM)
    ds.PixelData = pixels.tobytes()
    return SyntheticDx(ds, phantom.landmarks)
