"""The HTTP API between ``saltseg serve`` and its clients: routes, job states, headers and limits.
Standard library only: the client imports it inside Slicer's Python.

Every route but the API description (``/docs``, ``/openapi.json``) needs ``Authorization: Bearer
TOKEN``. A job::

    POST   /v1/jobs                 JSON body: the job (a SegmentJob request, paths as suffixes)
                                    -> 201 {"id", "state": "waiting-for-upload", ...}
    PUT    /v1/jobs/ID/input        body: the CT (NIfTI .nii/.nii.gz, NRRD or MHA, one file)
                                    -> 202 {"state": "queued", "position": N, ...}
    GET    /v1/jobs/ID/events       text/event-stream: the job's status at every change, until it ends
    GET    /v1/jobs/ID              the job's status (for clients that poll)
    GET    /v1/jobs/ID/files/NAME   one result file (names from the status' "files")
    DELETE /v1/jobs/ID              cancel it, or delete its results once downloaded

    GET    /v1/models               the server's models (and its default)
    GET    /v1/info                 version, device, queue length and limits

A job whose client is gone (no open event stream, upload or download, and no request about it for
the server's ``--client-timeout``) is cancelled and its files deleted; so is a finished one once
every file was downloaded, or after ``--keep-results`` seconds.
"""
from __future__ import annotations

import re

API_PREFIX = "/v1"
DEFAULT_PORT = 8765
#: Routes anyone may read: the API's description, no data.
PUBLIC_PATHS = ("/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc")

WAITING, QUEUED, RUNNING, DONE, FAILED, CANCELLED = (
    "waiting-for-upload", "queued", "running", "done", "failed", "cancelled")
STATES = (WAITING, QUEUED, RUNNING, DONE, FAILED, CANCELLED)
FINISHED = (DONE, FAILED, CANCELLED)

#: Job ids are made by the server (128 random bits, hex); nothing else names a job.
JOB_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
#: Result file names are made by the server too (a job field's name, a node, an ending); a route
#: looks a name up among its job's files, so this only keeps absurd requests out of the logs.
FILE_NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.,-]{0,254}")

#: What the job's path fields may end with on the server (single self-contained files only: a
#: header naming a data file, .mhd or .nhdr, would name a server file to the client, and DICOM
#: outputs need the DICOM series, which stays with the client).
SERVER_SUFFIXES = (".seg.nrrd", ".nii.gz", ".nii", ".nrrd", ".mha", ".csv", ".json", ".png")

#: The job's fields a client never sets on the server: where the CT and the models are, and the
#: device (the server's own).
SERVER_SIDE_FIELDS = ("input", "home", "catalog", "device")

#: Seconds between two event-stream keep-alive comments: a client that hears nothing for much
#: longer knows the server is gone, and the server notices a vanished client at the next one.
HEARTBEAT_S = 1.0
