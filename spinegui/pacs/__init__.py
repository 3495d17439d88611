"""Working with a PACS over DICOMweb: search, retrieve, send reports back.

Qt-free and torch-free (an import-linter contract says so), so the command
line, the window's worker threads and the tests share one code path:

- ``config``: the remembered server (URL, auth kind, user; never a secret),
- ``credentials``: passwords and tokens in the OS keyring, or for this session only,
- ``client``: a DICOMweb client whose failures are messages for people,
- ``search``: QIDO-RS studies and series as plain values, thumbnails,
- ``retrieve``: WADO-RS into the project's DICOM cache, added like any image,
- ``sr_write`` / ``sr_read``: TID 1500 measurement reports (highdicom),
- ``capture``: the annotated view as a secondary-capture image,
- ``outbox``: reports queued in the project and sent with STOW-RS, retried until sent,
- ``pull``: the whole "study from the PACS into the project, with its reports" step.
"""
