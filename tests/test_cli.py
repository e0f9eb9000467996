"""The `dancenow` command line itself: every command's help, and mistakes in the arguments answered
by the command that was meant, in one line, before any work starts."""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dataset.cli import build_parser, main
from forensics.config import DEFAULT_DETECTOR_PATH, ROBUSTNESS_CONDITIONS


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subcommands:
        yield path
    for action in subcommands:
        for name, child in action.choices.items():
            yield from _commands(child, (*path, name))


def _parser(command: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in command:
        parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    return parser


def _help(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_every_command_explains_itself_in_wrapped_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    commands = list(_commands(build_parser()))
    assert ("dataset", "build") in commands and ("forensics", "evaluate") in commands and len(commands) >= 15
    for command in commands:
        text = _help(command, capsys)
        assert text.startswith(f"usage: dancenow {' '.join(command)}"), text[:80]
        # descriptions and help lines are wrapped; only an unbreakable word may run over
        long = [line for line in text.splitlines() if len(line) > 100 and " " in line.strip()]
        assert not long, (command, long)

        # every option and argument says what it is for
        silent = [a.dest for a in _parser(command)._actions if not a.help]
        assert not silent, (command, silent)

    # a default path is never broken at a hyphen, so it can be copied from the help
    assert str(DEFAULT_DETECTOR_PATH) in _help(("forensics", "detect"), capsys)
    evaluate = " ".join(_help(("forensics", "evaluate"), capsys).split())
    assert all(name in evaluate for name in ROBUSTNESS_CONDITIONS)


def test_the_robustness_conditions_named_in_the_help_are_the_ones_evaluated() -> None:
    from forensics.evaluate import CONDITIONS

    assert tuple(CONDITIONS) == ROBUSTNESS_CONDITIONS


@pytest.mark.parametrize(
    ("argv", "usage", "message"),
    [
        (["dataset", "build", "--bogus"], "dancenow dataset build", "unrecognized arguments: --bogus"),
        (["forensics", "evaluate", "--config", "x.yaml"], "dancenow forensics evaluate", "unrecognized"),
        (["train", "body", "--workers", "0"], "dancenow train body", "--workers: must be at least 1, got 0"),
        (["transfer", "--max-frames", "ten"], "dancenow transfer", "--max-frames: not a whole number: 'ten'"),
        (
            ["transfer", "dance.mp4"],
            "dancenow transfer",
            "dance.mp4 (a source video or dataset goes after --source: --source dance.mp4)",
        ),
        (
            ["forensics", "verify", "v.mp4", "--max-frames", "-1"],
            "dancenow forensics verify",
            "0 (all) or more",
        ),
        (["pose", "extract", "v.mp4", "--workers", "-2"], "dancenow pose extract", "must be at least 1"),
        (
            ["demo-data", "--size", "100000"],
            "dancenow demo-data",
            "--size: must be from 32 to 2048, got 100000",
        ),
        (["demo-data", "--fps", "0"], "dancenow demo-data", "--fps: must be above 0 and at most 240, got 0"),
        (["demo-data", "--target-seconds", "x"], "dancenow demo-data", "--target-seconds: not a number: 'x'"),
        (
            ["dataset", "build", "--crf", "60"],
            "dancenow dataset build",
            "--crf: must be from 0 to 51, got 60",
        ),
        (
            ["dataset", "build", "--min-person-rate", "2"],
            "dancenow dataset build",
            "must be from 0 to 1, got 2",
        ),
        (["dashboard", "--max-upload-mb", "0"], "dancenow dashboard", "must be at least 1, got 0"),
    ],
)
def test_a_wrong_argument_is_answered_by_the_command_meant(
    argv: list[str], usage: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: {usage} ") and message in err.strip().splitlines()[-1], err


@pytest.mark.parametrize("group", [(), ("pose",), ("dataset",), ("train",), ("model",), ("forensics",)])
def test_a_group_with_no_command_lists_its_commands(
    group: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert main(list(group)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    prog = " ".join(("dancenow", *group))
    names = next(a for a in _parser(group)._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert captured.err.startswith(f"usage: {prog} ")
    assert all(f"\n    {name}" in captured.err for name in names), captured.err  # each with its help line
    last = captured.err.strip().splitlines()[-1]
    assert (
        last
        == f"{prog}: error: name a command ({', '.join(names)}); `{prog} {next(iter(names))} --help` explains it"
    )


def test_verify_reads_every_frame_with_max_frames_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dataset.video import VideoWriter

    video = tmp_path / "plain.mp4"
    with VideoWriter(video, fps=30) as writer:
        for i in range(12):
            writer.write(np.full((64, 64, 3), 60 + 8 * i, np.uint8))
    assert main(["forensics", "verify", str(video), "--max-frames", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["watermark"]["frames"] == 12 and report["watermark"]["detected"] is False
    assert report["provenance"]["found"] is False


def test_pose_extract_refuses_two_videos_that_would_write_one_file_and_an_unwritable_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dataset.video import VideoWriter

    for folder in ("a", "b"):
        with VideoWriter(tmp_path / folder / "clip.mp4", fps=30) as writer:
            for _ in range(4):
                writer.write(np.full((64, 64, 3), 90, np.uint8))
    first, second = tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4"
    out = tmp_path / "poses"
    assert main(["pose", "extract", str(first), str(second), "--out", str(out), "--no-progress"]) == 2
    assert capsys.readouterr().err == (
        f"error: {first} and {second} would both write {out / 'clip.npz'}; extract them in separate runs "
        "with different --out\n"
    )
    # a folder that cannot be made: one line naming it, before any detection
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert main(["pose", "extract", str(first), "--out", str(blocked / "poses"), "--no-progress"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {blocked / 'poses'}: not a directory; check the path")


def test_help_imports_no_numerical_library() -> None:
    # `dancenow --help` and every argument error build the whole parser; numpy, scipy, torch and
    # mediapipe would add half a second or more to each.
    import subprocess
    import sys

    heavy = ("numpy", "scipy", "torch", "mediapipe", "cv2", "ray", "datasets")
    script = (
        "import sys; from dataset.cli import build_parser; build_parser(); "
        f"print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "", f"building the parser imported: {loaded.stdout.strip()}"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"dancenow {version('dancenow')}"


def test_the_pose_package_resolves_every_public_name_lazily() -> None:
    import dataset.pose as pose

    assert sorted(pose.__all__) == sorted(pose._SUBMODULE_OF), "one place lists where each name lives"
    for name in pose.__all__:
        module = importlib.import_module(f"dataset.pose.{pose._SUBMODULE_OF[name]}")
        assert getattr(pose, name) is getattr(module, name)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = pose.nothing
