"""What goes wrong around a run, not in its input, still ends in one line and leaves nothing: the
disk filling up during the write, an input that is a symbolic link loop, a batch output folder
that refuses files, a batch refused before it starts, and Ctrl-C in a running batch. Each runs
``saltseg`` as users do (a separate process where the condition needs one)."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_support import folder_contents, live_processes_in_group, run_saltseg, start_saltseg, unwritable_folder
from saltseg.cli import main
from saltseg.models.catalog import DEMO_MODEL_ID

#: A write beyond the limit fails like a write on a full disk ("No space left on device"), with
#: EFBIG's own words.
TOO_LARGE = "File too large"


@pytest.fixture(scope="module")
def ct_file(shared_data, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("input") / "ct.nii.gz"
    shutil.copyfile(shared_data / "example_ct_sm.nii.gz", path)
    return path


@pytest.fixture(scope="module")
def complete_outputs(ct_file, small_threshold_model, tmp_path_factory) -> Path:
    """Every output of a run that had room: the sizes the limited runs below cannot reach."""
    folder = tmp_path_factory.mktemp("complete")
    for output in ("ct.nii.gz", "ct.seg.nrrd"):
        assert main(["segment", str(ct_file), "-o", str(folder / output), "--preview", str(folder / "ct.png"),
                     *_segment_options(small_threshold_model)]) == 0
    return folder


def _segment_options(model: Path) -> list[str]:
    return ["--model", str(model), "--device", "cpu", "--backend", "torch", "--quiet"]


def _last_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    return lines[-1] if lines else ""


@pytest.mark.parametrize("output", ["ct.nii.gz", "ct.seg.nrrd"])
def test_disk_full_during_the_write_says_one_line_and_keeps_the_earlier_result(output, ct_file, small_threshold_model,
                                                                               complete_outputs, tmp_path):
    # The folder holds the result of an earlier run; this run's write runs out of room.
    for name in (output, "ct.labels.json"):
        if (complete_outputs / name).exists():
            shutil.copyfile(complete_outputs / name, tmp_path / name)
    before = folder_contents(tmp_path)
    limit = (complete_outputs / output).stat().st_size - 1
    assert limit > (complete_outputs / "ct.labels.json").stat().st_size  # only the volume is too large

    run = run_saltseg(["segment", ct_file, "-o", tmp_path / output, *_segment_options(small_threshold_model)],
                      file_size_limit=limit)

    assert run.returncode == 1, run.stderr
    assert _last_line(run.stderr) == f"saltseg: error: cannot write {tmp_path / output}: {TOO_LARGE} " \
                                     "(nothing was written)", run.stderr
    assert "Traceback" not in run.stderr
    assert folder_contents(tmp_path) == before  # no part file, the earlier pair still a pair


def test_disk_full_at_the_preview_removes_the_outputs_written_before_it(ct_file, small_threshold_model,
                                                                        complete_outputs, tmp_path):
    limit = (complete_outputs / "ct.png").stat().st_size - 1
    assert limit > (complete_outputs / "ct.seg.nrrd").stat().st_size  # the main output fits, the preview not

    run = run_saltseg(["segment", ct_file, "-o", tmp_path / "ct.seg.nrrd", "--preview", tmp_path / "ct.png",
                       *_segment_options(small_threshold_model)], file_size_limit=limit)

    assert run.returncode == 1, run.stderr
    assert _last_line(run.stderr) == (f"saltseg: error: cannot write {tmp_path / 'ct.png'}: {TOO_LARGE}; removed "
                                      "ct.seg.nrrd, written before it, so nothing was written"), run.stderr
    assert "Traceback" not in run.stderr
    assert folder_contents(tmp_path) == {}


def test_symbolic_link_loop_as_input_is_named_in_one_line(tmp_path, small_threshold_model, capsys):
    loop = tmp_path / "ct.nii.gz"
    loop.symlink_to(loop.name)

    code = main(["segment", str(loop), "-o", str(tmp_path / "out.seg.nrrd"), *_segment_options(small_threshold_model)])

    err = capsys.readouterr().err
    assert code == 1
    assert _last_line(err) == (f"saltseg: error: input {loop} is a symbolic link loop (Too many levels of symbolic "
                               "links); point it at the CT file"), err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ct.nii.gz"]


def _batch(inputs, outdir: Path, *options: str) -> list[str]:
    return ["batch", *map(str, inputs), "-o", str(outdir), "--model", DEMO_MODEL_ID, "--device", "cpu",
            "--backend", "torch", "--workers", "1", *options]


def test_batch_reports_a_symbolic_link_loop_as_a_failed_case_and_segments_the_others(ct_file, tmp_path, capsys):
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    shutil.copyfile(ct_file, cohort / "good.nii.gz")
    (cohort / "loop.nii.gz").symlink_to("loop.nii.gz")
    outdir = tmp_path / "out"

    code = main(_batch([cohort], outdir, "--quiet"))

    err = capsys.readouterr().err
    assert code == 1  # a failed case
    assert "Traceback" not in err
    manifest = (outdir / "manifest.csv").read_text()
    assert re.search(r"\ngood,.*,done,", manifest), manifest
    assert f"loop,{cohort / 'loop.nii.gz'},loop.seg.nrrd,failed,input {cohort / 'loop.nii.gz'} is a symbolic link " \
           "loop" in manifest


def test_batch_into_a_folder_that_refuses_files_says_one_line(ct_file, tmp_path, capsys):
    locked = unwritable_folder(tmp_path / "locked")
    before = sorted(path.name for path in locked.iterdir())

    code = main(_batch([ct_file], locked, "--quiet"))

    err = capsys.readouterr().err
    assert code == 1
    assert re.fullmatch(rf"saltseg: error: cannot write in the output folder {re.escape(str(locked))}: "
                        r"(Permission denied|Read-only file system)", _last_line(err)), err
    assert "Traceback" not in err
    assert sorted(path.name for path in locked.iterdir()) == before


def _without_highdicom(monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def import_but_highdicom(name, *args, **kwargs):
        if name.split(".")[0] == "highdicom":
            raise ImportError("No module named 'highdicom'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", import_but_highdicom)


@pytest.mark.parametrize("refusal, message", [
    ("no inputs", "no CT found in"),
    ("no segmentations to organize", "no segmentation found in"),
    ("unknown model", "unknown model 'no-such-model'"),
    ("missing extra", "DICOM SEG output needs highdicom: pip install 'saltseg[dicom-seg]'"),
])
def test_a_refused_batch_leaves_no_output_folder(refusal, message, ct_file, tmp_path, capsys, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    outdir = tmp_path / "results" / "out"
    args = {"no inputs": _batch([empty], outdir),
            "no segmentations to organize": _batch([empty], outdir, "--organize"),
            "unknown model": _batch([ct_file], outdir, "--model", "no-such-model"),
            "missing extra": _batch([ct_file], outdir, "--format", "dicom-seg")}[refusal]
    if refusal == "missing extra":
        _without_highdicom(monkeypatch)

    code = main(args)

    err = capsys.readouterr().err
    assert code == 1
    assert message in _last_line(err), err
    assert not (tmp_path / "results").exists()


def test_ctrl_c_in_a_batch_says_one_line_and_leaves_no_worker_and_no_partial_file(ct_file, tmp_path):
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    for number in range(3):
        shutil.copyfile(ct_file, cohort / f"ct{number}.nii.gz")
    outdir = tmp_path / "out"
    batch = start_saltseg(_batch([cohort], outdir))
    try:
        deadline = time.monotonic() + 240
        while not (outdir / "manifest.csv").exists():  # the first case is done, the next one running
            assert batch.poll() is None and time.monotonic() < deadline, batch.communicate()[1]
            time.sleep(0.05)
        os.killpg(batch.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        _, err = batch.communicate(timeout=120)
    finally:
        if batch.poll() is None:
            os.killpg(batch.pid, signal.SIGKILL)

    assert batch.returncode == 130, err
    assert "Traceback" not in err
    assert re.fullmatch(rf"saltseg batch: interrupted; [12] of 3 cases done, recorded in "
                        rf"{re.escape(str(outdir / 'manifest.csv'))}; rerun the same command to resume",
                        _last_line(err)), err
    said = [line for line in err.splitlines() if line.strip() and not line.startswith("cases:")]
    assert len(said) <= 2, err  # the cluster line and this one, besides the progress bar
    assert live_processes_in_group(batch.pid) == []
    assert [path.name for path in outdir.rglob("*") if ".part" in path.name] == []


#: The saltseg command's script (what pip generates imports the command line first), starting one
#: process the way Dask's nannies start workers; each process says whether it ignores Ctrl-C.
_COMMAND_STARTING_A_WORKER = """
import multiprocessing, signal
from saltseg.cli import main


def report(answers):
    answers.put(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)


if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    answers = context.Queue()
    worker = context.Process(target=report, args=(answers,))
    worker.start()
    print("worker ignores Ctrl-C:", answers.get(timeout=300))
    worker.join()
    print("command ignores Ctrl-C:", signal.getsignal(signal.SIGINT) is signal.SIG_IGN)
"""


def test_a_worker_started_from_the_command_line_leaves_ctrl_c_to_the_command(tmp_path):
    # From its first import: a Ctrl-C while the workers still start prints no worker's traceback.
    script = tmp_path / "saltseg_command.py"
    script.write_text(_COMMAND_STARTING_A_WORKER)

    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)

    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["worker ignores Ctrl-C: True", "command ignores Ctrl-C: False"]


def test_ctrl_c_while_the_commands_load_says_one_line(monkeypatch, capsys):
    """The sub-commands load torch and SimpleITK first (seconds): a Ctrl-C then is no traceback."""
    import saltseg.cli as cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "commands", interrupted)
    assert main(["segment", "ct.nii.gz", "-o", "out.seg.nrrd"]) == 130
    assert capsys.readouterr().err.strip() == "saltseg: interrupted; nothing was written"
