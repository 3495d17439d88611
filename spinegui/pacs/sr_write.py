"""A reviewed image's landmarks and Cobb angles as a DICOM TID 1500 Measurement Report.

Layout (highdicom writes and checks the templates):

- Observation context: the reviewer as person observer; spinegui, with the
  model version as its model name, as device observer.
- One TID 1410 planar-ROI group per vertebra: the vertebra as finding type
  and finding site (SNOMED CT, e.g. 62487009 "T7 vertebra"), its body as a
  closed POLYLINE (SR has no polygon type: last point = first) of image
  coordinates TL, TR, BR, BL, TL on the source instance, and the model as
  algorithm when one predicted it.
- One TID 1501 group per curve (named by its apex, as the window and the
  PDF report name it, ``spinegui.core.curves``): the angle (SNOMED CT
  285285000 "Cobb angle", unit deg), the curve name, its upper and lower end
  vertebrae, and whether the reader chose those end vertebrae or the rules
  did, as coded evaluations. There are no standard concepts for "upper/lower
  end vertebra", the curve regions or the selection, so these use the
  private coding scheme ``99SPINEGUI`` (designators starting with 99 are
  reserved for that).

Coordinates: DICOM image coordinates put the top-left corner of the first
pixel at (0, 0), so its centre is (0.5, 0.5); spinegui's landmarks put that
centre at (0, 0). Writing adds 0.5, reading subtracts it.

Sending again never duplicates: a new version goes into the same SR series
with a higher instance number and names the previous one in its Predecessor
Documents Sequence; an unchanged report is recognised by its content hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import highdicom as hd
import numpy as np
from pydicom import Dataset
from pydicom.sr.codedict import codes

from spinegui import __version__
from spinegui.core.curves import CurveSet, measure_curves
from spinegui.core.templates import get_template

MANUFACTURER = "spinegui"
SR_SERIES_NUMBER = 9701
SR_SERIES_DESCRIPTION = "spinegui scoliosis measurements"
PIXEL_ORIGIN = 0.5
"""DICOM image coordinate of a pixel's centre minus spinegui's."""
DEVICE_UID_ROOT = "1.2.826.0.1.3680043.8.498."
SCHEME = "99SPINEGUI"
UPPER_END = hd.sr.CodedConcept("upper-end", SCHEME, "Upper end vertebra")
LOWER_END = hd.sr.CodedConcept("lower-end", SCHEME, "Lower end vertebra")
CURVE = hd.sr.CodedConcept("curve", SCHEME, "Curve")
ENDS_CHOSEN_BY = hd.sr.CodedConcept("ends-chosen-by", SCHEME, "End vertebrae chosen by")
BY_READER = hd.sr.CodedConcept("reader", SCHEME, "The reader")
BY_RULES = hd.sr.CodedConcept("rules", SCHEME, "The AASCE rules")
VERTEBRA_PREFIX = "spinegui vertebra "
COBB_PREFIX = "spinegui Cobb angle "


def vertebra_code(name: str) -> hd.sr.CodedConcept:
    code = getattr(codes.SCT, f"{name}Vertebra")
    return hd.sr.CodedConcept(code.value, code.scheme_designator, code.meaning)


def vertebra_name(code) -> str | None:
    """'T7' for SNOMED CT's T7 vertebra code, None for anything else."""
    for name in ("C7", *(f"T{i}" for i in range(1, 13)), *(f"L{i}" for i in range(1, 6))):
        if vertebra_code(name).value == getattr(code, "value", None):
            return name
    return None


@dataclass(frozen=True, eq=False)
class ReportContent:
    """Everything a report says about one image."""

    source: Dataset
    """The referenced image's header: patient, study and instance identity."""
    template: str
    landmarks: np.ndarray
    image_height: int
    reviewer: str
    model: str | None
    curve_ends: tuple[tuple[int, int], ...] = ()
    """End vertebrae the reader chose (template indices); they replace the rules' curves."""

    @property
    def curves(self) -> CurveSet:
        names = get_template(self.template).vertebrae
        return measure_curves(self.landmarks, self.image_height, names, self.curve_ends)

    def content_hash(self) -> str:
        """A fingerprint of what the report says (not when it was written)."""
        payload = {
            "sop": str(self.source.SOPInstanceUID),
            "template": self.template,
            "landmarks": np.round(np.asarray(self.landmarks, float), 3).tolist(),
            "curves": [
                [c.name, round(c.angle, 2), c.upper, c.lower, c.chosen_by_reader]
                for c in self.curves.curves
            ],
            "reviewer": self.reviewer,
            "model": self.model,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Predecessor:
    """Identity of an earlier report version that a new one supersedes."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str


def build_report(
    content: ReportContent,
    *,
    series_uid: str,
    sop_uid: str,
    instance_number: int,
    previous: Predecessor | None = None,
) -> hd.sr.ComprehensiveSR:
    """The SR document for ``content``, in series ``series_uid``."""
    src = content.source
    names = get_template(content.template).vertebrae
    region_source = hd.sr.SourceImageForRegion(
        referenced_sop_class_uid=str(src.SOPClassUID),
        referenced_sop_instance_uid=str(src.SOPInstanceUID),
    )
    algorithm = (
        hd.sr.AlgorithmIdentification(name="spinegui landmark network", version=content.model)
        if content.model
        else None
    )
    groups: list = []
    for name, quad in zip(names, np.asarray(content.landmarks, float), strict=True):
        tl, tr, bl, br = quad + PIXEL_ORIGIN
        groups.append(
            hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=hd.UID(), identifier=VERTEBRA_PREFIX + name
                ),
                referenced_region=hd.sr.ImageRegion(
                    graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
                    graphic_data=np.array([tl, tr, br, bl, tl]),
                    source_image=region_source,
                ),
                finding_type=vertebra_code(name),
                finding_sites=[hd.sr.FindingSite(vertebra_code(name))],
                algorithm_id=algorithm,
            )
        )
    measured_image = hd.sr.SourceImageForMeasurementGroup(
        referenced_sop_class_uid=str(src.SOPClassUID),
        referenced_sop_instance_uid=str(src.SOPInstanceUID),
    )
    for curve in content.curves.curves:
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=hd.UID(), identifier=COBB_PREFIX + curve.name
                ),
                finding_type=codes.SCT.CobbAngle,
                measurements=[
                    hd.sr.Measurement(
                        name=codes.SCT.CobbAngle,
                        value=round(float(curve.angle), 2),
                        unit=codes.UCUM.Degree,
                    )
                ],
                qualitative_evaluations=[
                    hd.sr.QualitativeEvaluation(
                        CURVE, hd.sr.CodedConcept(curve.region, SCHEME, curve.name)
                    ),
                    hd.sr.QualitativeEvaluation(UPPER_END, vertebra_code(names[curve.upper])),
                    hd.sr.QualitativeEvaluation(LOWER_END, vertebra_code(names[curve.lower])),
                    hd.sr.QualitativeEvaluation(
                        ENDS_CHOSEN_BY, BY_READER if curve.chosen_by_reader else BY_RULES
                    ),
                ],
                source_images=[measured_image],
            )
        )
    observation = hd.sr.ObservationContext(
        observer_person_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                name=_person_name(content.reviewer)
            ),
        ),
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device,
            observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=device_uid(),
                name="spinegui",
                manufacturer_name=MANUFACTURER,
                model_name=content.model or "manual landmarks",
            ),
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=observation,
        procedure_reported=codes.SCT.PlainRadiography,
        imaging_measurements=groups,
        title=codes.cid7021.ImagingMeasurementReport,
    )
    now = datetime.now(UTC)
    sr = hd.sr.ComprehensiveSR(
        evidence=[src],
        content=report[0],
        series_instance_uid=series_uid,
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=sop_uid,
        instance_number=int(instance_number),
        manufacturer=MANUFACTURER,
        is_complete=True,
        previous_versions=None if previous is None else [_predecessor_dataset(previous)],
        series_description=SR_SERIES_DESCRIPTION,
        content_date=now.strftime("%Y%m%d"),
        content_time=now.strftime("%H%M%S.%f"),
    )
    sr.SoftwareVersions = __version__
    sr.CodingSchemeIdentificationSequence = [_private_scheme()]
    return sr


def _private_scheme() -> Dataset:
    """Declares ``99SPINEGUI`` so a reader knows whose private codes these are."""
    item = Dataset()
    item.CodingSchemeDesignator = SCHEME
    item.CodingSchemeName = "spinegui scoliosis measurement concepts"
    item.CodingSchemeResponsibleOrganization = "spinegui project"
    return item


def device_uid() -> str:
    """A stable UID for 'spinegui' as an observing device (the same in every report)."""
    digest = int(hashlib.sha256(b"spinegui device").hexdigest()[:24], 16)
    return DEVICE_UID_ROOT + str(digest)[:30]


def _person_name(user: str) -> str:
    """The reviewer as a DICOM person name; a login name is kept whole as the family name."""
    text = (user or "unknown").strip().replace("\\", " ")
    return text if "^" in text else text + "^"


def _predecessor_dataset(previous: Predecessor) -> Dataset:
    ds = Dataset()
    ds.StudyInstanceUID = previous.study_uid
    ds.SeriesInstanceUID = previous.series_uid
    ds.SOPInstanceUID = previous.sop_uid
    ds.SOPClassUID = previous.sop_class_uid
    return ds
