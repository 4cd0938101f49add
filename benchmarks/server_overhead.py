"""What a SALT server costs over a local run on the same machine: transfer and queue overhead, and
the CT's upload size compressed vs raw.

    python benchmarks/server_overhead.py [--model salt-phantom-demo] [--repeat 3] [--synthetic 256 256 160]

A real ``saltseg serve`` (subprocess, 127.0.0.1, plain http, the model kept loaded) and the same job
run locally by an engine process that keeps the model loaded too (as the Slicer module runs it), so
the difference is what the server adds: the upload, the wait for the queue, the download, and the
client reading and checking the CT before it sends it. Local and server runs alternate (the same
machine load for both), ``--repeat`` times after one warm-up pair; medians (time.perf_counter).
Inputs: the example CT (.nii.gz, sent as it is), the example DICOM series (read and converted to
a compressed NRRD by the client) and, with ``--synthetic``, a larger synthetic CT.
"""
from __future__ import annotations

import argparse
import json
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def start_server(folder: Path, model: str) -> tuple[subprocess.Popen, str, str, float]:
    token = secrets.token_urlsafe(32)
    (folder / "token").write_text(token)
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "saltseg", "serve", "--port", "0", "--token-file",
                                str(folder / "token"), "--model", model, "--device", "cpu", "--work-dir",
                                str(folder / "work")], stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    for line in process.stderr:
        found = re.search(r"listening on (\S+)", line)
        if found:
            return process, found.group(1), token, time.perf_counter() - started
    raise SystemExit("the server did not start")


class LocalEngine:
    """The local baseline: an engine process keeping the model loaded, as the Slicer module runs a
    job on this computer (and as the server's own engine does)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "saltseg.service", "serve", "--idle-timeout", "0"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._next()

    def _next(self) -> dict:
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise SystemExit("the local engine process ended")
            if line.startswith("{"):
                return json.loads(line)

    def run(self, request: dict) -> dict:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        while True:
            event = self._next()
            if event["event"] in ("done", "error"):
                if event["event"] == "error":
                    raise SystemExit(f"local run failed: {event}")
                return event

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def timed(run) -> tuple[float, object]:
    started = time.perf_counter()
    answer = run()
    return time.perf_counter() - started, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="salt-phantom-demo")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--synthetic", type=int, nargs=3, default=None, metavar=("X", "Y", "Z"))
    args = parser.parse_args()

    import SimpleITK as sitk

    from saltseg.io.image_io import read_image
    from saltseg.job.description import SegmentJob
    from saltseg.remote.address import ServerAddress
    from saltseg.remote.remote_job import run_remote_job
    from saltseg.remote.transfer import sent_as_is
    from saltseg.synthetic_ct import synthetic_ct

    with tempfile.TemporaryDirectory(prefix="server-overhead-") as tmp:
        folder = Path(tmp)
        inputs = {"example CT (.nii.gz)": SHARED / "example_ct.nii.gz",
                  "example DICOM series": SHARED / "example_ct_dicom"}
        if args.synthetic:
            path = folder / "synthetic.nii.gz"
            sitk.WriteImage(synthetic_ct(size=tuple(args.synthetic), spacing=(1.5, 1.5, 2.0)), str(path), True)
            inputs[f"synthetic {'×'.join(map(str, args.synthetic))} (.nii.gz)"] = path
        process, url, token, start_s = start_server(folder, args.model)
        address = ServerAddress(url, token)
        local = LocalEngine()
        rows = []
        try:
            for name, source in inputs.items():
                image = read_image(source)
                raw_mb = image.GetNumberOfPixels() * image.GetSizeOfPixelComponent() / 1e6
                if sent_as_is(source):
                    sent_mb = source.stat().st_size / 1e6
                else:
                    sitk.WriteImage(image, str(folder / "converted.nrrd"), True)
                    sent_mb = (folder / "converted.nrrd").stat().st_size / 1e6
                local_job = SegmentJob(input=source, output=folder / "local.seg.nrrd", model=args.model, device="cpu")
                remote_job = SegmentJob(input=source, output=folder / "remote.seg.nrrd", model=args.model)
                local_s, remote_s, parts = [], [], []
                for attempt in range(args.repeat + 1):  # interleaved, so that both share the machine's load
                    seconds, _ = timed(lambda job=local_job: local.run(job.to_request()))
                    remote, outcome = timed(lambda job=remote_job: run_remote_job(job, address))
                    if attempt:  # the first pair warms up (model, caches)
                        local_s.append(seconds)
                        remote_s.append(remote)
                        timings = outcome.result.timings  # type: ignore[attr-defined]
                        parts.append([timings.get(key, 0.0) for key in ("upload", "queued", "download")])
                rows.append((name, statistics.median(local_s), statistics.median(remote_s),
                             *[statistics.median(column) for column in zip(*parts)], raw_mb, sent_mb))
        finally:
            local.close()
            process.terminate()
            process.wait(timeout=60)

    print(f"server start (engine process, model {args.model} loaded): {start_s:.1f} s\n")
    print("| input | local s | via server s | difference | upload s | queue s | download s | transfer + queue "
          "| raw CT MB | sent MB | sent/raw |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, local_s, remote_s, upload_s, queued_s, download_s, raw_mb, sent_mb in rows:
        difference = remote_s - local_s
        overhead = upload_s + queued_s + download_s
        print(f"| {name} | {local_s:.2f} | {remote_s:.2f} | {difference:+.2f} s ({100 * difference / local_s:+.0f} %) "
              f"| {upload_s:.2f} | {queued_s:.2f} | {download_s:.2f} | {overhead:.2f} s "
              f"({100 * overhead / local_s:.0f} %) | {raw_mb:.1f} | {sent_mb:.1f} | {sent_mb / raw_mb:.2f} |")
    print(f"\nmedians of {args.repeat} runs after one warm-up, local and server runs interleaved; both keep the "
          "model loaded in an engine process; 127.0.0.1, plain http. 'difference': the whole job's wall time, "
          "'transfer + queue': measured by the client (upload of the CT, wait until the job starts, download)")


if __name__ == "__main__":
    main()
