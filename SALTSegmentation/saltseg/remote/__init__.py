"""The SALT server (``saltseg serve``) and its clients (``--server URL``).

One machine with a GPU serves segmentation jobs over HTTP(S) to many front ends (the command line,
the Slicer module's engine process). Server side, each job is the engine's own
:class:`~saltseg.job.description.SegmentJob`, run one at a time by an engine process that keeps the
model loaded (:mod:`.engine_worker`, :mod:`.job_queue`), in a work folder of the server's own
(:mod:`.workspace`), behind a token (:mod:`.auth`) and the same checked readers as the command line
(:mod:`.upload_check`); the HTTP routes are :mod:`.app`. Client side, :mod:`.client` speaks the
protocol with the Python standard library only (it runs inside Slicer's Python), and
:mod:`.remote_job` runs a job there: the CT goes up, the labels come back, and every output is
written here by the same writers as a local run.

The HTTP API is :mod:`.api`; FastAPI and uvicorn (``pip install 'saltseg[server]'``) are imported by
the serving modules only, never by a client.
"""
