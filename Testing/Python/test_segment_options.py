"""The segment options every segmenting sub-command shares: defaults are SALT's, --fast is a
preset, explicit options win over it, and a sub-command's own options are left alone."""
from __future__ import annotations

import argparse

import pytest

from saltseg.cli.segment_options import add_segment_options, segment_options_from_args
from saltseg.inference.options import FAST_OVERLAP, SegmentOptions


def parse(*argv, parser=None):
    parser = parser or argparse.ArgumentParser()
    add_segment_options(parser)
    return segment_options_from_args(parser.parse_args(list(argv)))


def test_defaults_are_salts_pipeline():
    options = parse()
    assert options == SegmentOptions()
    # window placement None: the model's certified one (SALT's for SALT's models; test_model_run_defaults.py)
    assert ((options.overlap, options.window_placement, options.skip_air, options.whole_model)
            == (0.5, None, False, False))


def test_fast_preset_and_explicit_overrides():
    fast = parse("--fast")
    assert (fast.overlap, fast.skip_air) == (FAST_OVERLAP, True)
    assert parse("--fast", "--overlap", "0.4").overlap == 0.4
    assert parse("--fast", "--no-skip-air").skip_air is False
    assert parse("--skip-air").overlap == 0.5
    chosen = parse("--backend", "torch", "--window-placement", "flush", "--whole-model", "--batch-size", "1",
                   "--no-largest-component")
    assert (chosen.backend, chosen.window_placement, chosen.whole_model, chosen.batch_size,
            chosen.largest_component) == ("torch", "flush", True, 1, False)


def test_invalid_values_are_refused_by_the_parser(capsys):
    for argv in (["--overlap", "1.0"], ["--backend", "tensorrt"], ["--window-placement", "middle"]):
        with pytest.raises(SystemExit):
            parse(*argv)
    assert "--overlap must be a finite number in [0, 1), got '1.0'" in capsys.readouterr().err


def test_a_sub_commands_own_option_is_kept():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu", choices=["cpu"])
    add_segment_options(parser)  # no "conflicting option string"
    args = parser.parse_args(["--fast"])
    assert args.device == "cpu" and segment_options_from_args(args).overlap == FAST_OVERLAP


def test_precision_defaults_to_auto_and_help_says_how_to_force_float32(capsys):
    assert parse().precision == "auto" and parse("--precision", "fp32").precision == "fp32"
    with pytest.raises(SystemExit):
        parse("--precision", "fp16")
    parser = argparse.ArgumentParser()
    add_segment_options(parser)
    parser.print_help()
    text = " ".join(capsys.readouterr().out.split())
    assert "fp32 forces float32 (SALT's labels to the voxel)" in text
