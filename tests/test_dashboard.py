"""The dashboard (``dancenow dashboard``): the safe path resolver and discovery, each page's logic
with Streamlit's ``AppTest``, and end to end: the real server started by the CLI, driven by Debian's
headless Chromium through Playwright.

The results folder is made here from the session's tiny dataset and tiny trained model, the way the
pipeline makes the demo's: a held-out evaluation with its transfer evaluation, two transfers (a
source dance, and the target's own held-out clip), plus the evaluation of the session's really
trained tiny detector (``tiny_detector`` in conftest.py), whose folder is a fourth root.

Screenshots of every page are saved to ``tests/artifacts/dashboard/`` (ignored by git; set
``DANCENOW_TEST_ARTIFACTS`` to put them elsewhere), with ``timings.json``: the seconds each page
took to render in the browser.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TinyDetector

from dashboard import files as dashboard_files
from dashboard.files import PathRefused, discover, resolve

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dashboard" / "app.py"
ARTIFACTS = Path(os.environ.get("DANCENOW_TEST_ARTIFACTS", ROOT / "tests" / "artifacts")) / "dashboard"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAGES = ("overview", "side_by_side", "quality", "forensics", "dataset")


# --------------------------------------------------------------------------------------------------
# The resolver and discovery (no model needed)


def test_the_resolver_keeps_every_path_inside_the_roots(tmp_path: Path) -> None:
    root = tmp_path / "results"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.json").write_text("{}")
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the dashboard")
    (root / "a" / "link.txt").symlink_to(secret)
    roots = (root.resolve(),)
    assert resolve("results/a/x.json", roots) == root / "a" / "x.json"  # from the root's name on
    assert resolve("a/x.json", roots) == root / "a" / "x.json"  # relative to the root
    assert resolve("x.json", roots, base=root / "a") == root / "a" / "x.json"  # relative to a record
    assert resolve(str(root / "a" / "x.json"), roots) == root / "a" / "x.json"
    for bad in (
        "../secret.txt",
        "a/../../secret.txt",
        str(secret),
        "a/link.txt",  # a symbolic link out of the roots
        "/etc/passwd",
        "../../../../../../etc/passwd",
    ):
        with pytest.raises(PathRefused, match=r"refused: .* outside the folders"):
            resolve(bad, roots)
    with pytest.raises(PathRefused, match="not found"):
        resolve("a/missing.json", roots)
    with pytest.raises(PathRefused, match="not a usable path"):
        resolve("a/x.json\x00", roots)
    assert dashboard_files.display_path(root / "a" / "x.json", roots) == "results/a/x.json"


def test_discovery_lists_results_but_never_reads_through_a_link_out(tmp_path: Path) -> None:
    root = tmp_path / "results"
    outside = tmp_path / "elsewhere"
    for folder in (root / "inside", outside):
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(
            json.dumps(
                {"schema": "dancenow.evaluation/1", "mode": "held-out", "model": {"label": folder.name}}
            )
        )
    (root / "linked").mkdir()
    (root / "linked" / "results.json").symlink_to(outside / "results.json")
    (root / "folder-link").symlink_to(outside, target_is_directory=True)
    (root / "bad").mkdir()
    (root / "bad" / "results.json").write_text("{not json")
    found = discover([root.resolve()])
    assert [item.path for item in found.of("evaluation")] == [(root / "inside").resolve()]
    assert found.of("evaluation")[0].title == "inside: held-out"
    assert len(found.problems) == 1 and "bad" in found.problems[0]


def test_roots_and_upload_limit_come_from_the_environment(tmp_path: Path) -> None:
    env = {dashboard_files.ROOTS_ENV: json.dumps([str(tmp_path), str(tmp_path / "x" / "..")])}
    assert dashboard_files.allowed_roots(env) == (tmp_path.resolve(),)
    assert dashboard_files.allowed_roots({}) == ((Path.cwd() / "outputs").resolve(),)
    assert dashboard_files.max_upload_mb({dashboard_files.MAX_UPLOAD_ENV: "7"}) == 7
    assert dashboard_files.max_upload_mb({}) == dashboard_files.DEFAULT_MAX_UPLOAD_MB


def test_the_cli_binds_to_localhost_and_refuses_a_missing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dashboard.cli import environment, streamlit_command
    from dataset.cli import build_parser, main

    args = build_parser().parse_args(["dashboard", str(tmp_path), "--port", "8600", "--max-upload-mb", "5"])
    assert args.host == "127.0.0.1" and args.results == [str(tmp_path)]
    command = streamlit_command(args.host, args.port, args.max_upload_mb)
    pairs = dict(zip(command[5::2], command[6::2], strict=True))
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4] == str(APP)
    assert pairs["--server.address"] == "127.0.0.1" and pairs["--server.port"] == "8600"
    assert pairs["--server.maxUploadSize"] == "5" and pairs["--server.headless"] == "true"
    assert pairs["--browser.gatherUsageStats"] == "false" and pairs["--server.fileWatcherType"] == "none"
    env = environment([tmp_path], 5)
    assert json.loads(env[dashboard_files.ROOTS_ENV]) == [str(tmp_path)]
    assert main(["dashboard", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: {tmp_path / 'missing'}: no such folder; pass a results"
    )
    (tmp_path / "results.json").write_text("{}")
    assert main(["dashboard", str(tmp_path / "results.json")]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: {tmp_path / 'results.json'}: not a folder; pass a results"
    )
    # a port something already listens on is named before Streamlit starts (it would log and exit)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["dashboard", str(tmp_path), "--port", str(port)]) == 2
    assert capsys.readouterr().err == (
        f"error: 127.0.0.1:{port}: cannot listen there: in use (another dashboard?); pass another --port "
        "(or --host)\n"
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["dashboard", str(tmp_path), "--port", "70000"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().endswith("--port: must be from 1 to 65535, got 70000")


def test_uploads_are_checked_for_type_size_and_content() -> None:
    from dashboard.views.forensics import check_upload

    mp4 = b"\x00\x00\x00\x18ftypisom" + b"\x00" * 100
    assert check_upload("a.mp4", mp4, 1) is None
    assert "not a video file type" in str(check_upload("a.exe", mp4, 1))
    assert "over the 1 MB limit" in str(check_upload("a.mp4", mp4 + b"\x00" * (1 << 20), 1))
    assert "not an MP4/MOV" in str(check_upload("a.mp4", b"#!/bin/sh\nrm -rf /\n", 1))


def test_scores_are_placed_on_the_frames_they_were_measured_on() -> None:
    from dashboard.records import frame_scores, verdict_line

    entry = {"segment": [30, 90], "frames": [30, 60, 89], "frame_scores": [0.1, None, 0.9]}
    assert frame_scores(entry) == [(30, 0.1), (89, 0.9)]
    assert frame_scores({"segment": [0, 10], "frame_scores": [0.5, 0.7]}) == [(0, 0.5), (9, 0.7)]
    text, severity = verdict_line(None, {"detected": True}, {"found": False, "intact": False})
    assert severity == "error" and "synthetic" in text and "watermark" in text
    text, severity = verdict_line(
        {"verdict": "real", "score": 0.1, "threshold": 0.5}, {"detected": False}, {"found": False}
    )
    assert severity == "success" and text.startswith("Verdict: real")


# --------------------------------------------------------------------------------------------------
# A results folder made by the pipeline from the session's tiny dataset and model


@pytest.fixture(scope="session")
def dashboard_results(
    face_model: Path,
    tiny_dataset: Path,
    tiny_detector: TinyDetector,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """Results as ``make demo`` lays them out, and the dashboard's roots: the results folder, the
    training runs' folder and the folder holding the dataset and its raw videos."""
    from synthesis.evaluate import evaluate, evaluate_transfer
    from synthesis.transfer import transfer

    started = time.perf_counter()
    results = tmp_path_factory.mktemp("dashboard-results") / "results"
    held_out = results / "evaluation" / "tiny" / "ts_face"
    evaluate(face_model, out=held_out, max_frames=8, progress=False)
    evaluate_transfer(face_model, str(tiny_dataset), out=held_out / "transfer", max_frames=8, progress=False)
    folder = results / "transfer"
    dance = transfer(
        face_model, str(tiny_dataset), folder / "dance.mp4", side_by_side=folder / "dance-side-by-side.mp4",
        max_frames=30, progress=False,
    )  # fmt: skip
    transfer(
        face_model, str(tiny_dataset), folder / "held-out.mp4", clip="demo-target/moves/test",
        side_by_side=folder / "held-out-side-by-side.mp4", max_frames=20, progress=False,
    )  # fmt: skip
    # The forensics results: the real tiny detector's evaluation (with its data and run folders).
    roots = [results, face_model.parent.parent, tiny_dataset.parent, tiny_detector.folder]
    print(f"\ndashboard results made in {time.perf_counter() - started:.1f} s")
    return {
        "results": results,
        "roots": roots,
        "held_out": held_out,
        "dance": dance.output,
        "model": face_model,
        "dataset": tiny_dataset,
        "forensics": tiny_detector.results,
    }


@pytest.fixture
def roots_env(dashboard_results: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv(dashboard_files.ROOTS_ENV, json.dumps([str(r) for r in dashboard_results["roots"]]))
    monkeypatch.setenv("DANCENOW_DASHBOARD_NO_WARMUP", "1")
    return dashboard_results


def _app(page: str, path: str | None = None) -> Any:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=120)
    at.switch_page(f"views/{page}.py")
    if path is not None:
        at.query_params["path"] = path
    return at.run()


def _captions(at: Any) -> list[str]:
    """The captions of the images on the page, in order."""
    return [img.proto.imgs[0].caption for img in at.get("image")]


def _tables(at: Any) -> list[list[dict[str, str]]]:
    """The Markdown tables on the page, in order, as rows of cell texts (escapes undone)."""

    def cells(line: str) -> list[str]:
        parts = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        return [html.unescape(re.sub(r"\\(.)", r"\1", part.strip())) for part in parts]

    tables = []
    for block in at.markdown:
        lines = str(block.value).strip().splitlines()
        if len(lines) >= 2 and lines[0].startswith("| ") and lines[1].startswith("|---"):
            names = cells(lines[0])
            tables.append([dict(zip(names, cells(line), strict=True)) for line in lines[2:]])
    return tables


def _texts(at: Any) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error]
    parts += [w.value for w in at.warning] + [s.value for s in at.success] + [i.value for i in at.info]
    return "\n".join(str(p) for p in parts)


# --------------------------------------------------------------------------------------------------
# Each page's logic (AppTest)


@pytest.mark.ray
def test_discovery_finds_every_kind_of_result(roots_env: dict[str, Any]) -> None:
    found = discover([r.resolve() for r in roots_env["roots"]])
    kinds = {item.kind for item in found.items}
    assert kinds == {"run", "evaluation", "transfer", "forensics", "dataset"}, found.items
    run = found.of("run")[0]
    assert run.title == "tiny-face-model" and run.details["variant"] == "T.S. + Face"
    assert {t.title for t in found.of("transfer")} == {"dance.mp4", "held-out.mp4"}
    assert {e.details["mode"] for e in found.of("evaluation")} == {"held-out", "transfer"}
    assert found.problems == []


@pytest.mark.ray
def test_overview_lists_the_runs_with_dataset_variant_configuration_and_date(
    roots_env: dict[str, Any],
) -> None:
    at = _app("overview")
    assert not at.exception
    runs, evaluations = _tables(at)[:2]
    assert len(runs) == 1 and runs[0]["variant"] == "T.S. + Face" and runs[0]["name"] == "tiny-face-model"
    assert runs[0]["configuration"].startswith("64×64") and runs[0]["date"][:2] == "20"
    assert runs[0]["configuration"].endswith(", fp32")  # the precision the run used, from its log
    assert "tiny-face-model (T.S. + Face): held-out" in [r["name"] for r in evaluations]
    # Each result has a page link that opens it on its page in this session (no reload).
    links = {e.proto.label: (e.proto.page, e.proto.query_string) for e in at.get("page_link")}
    page, query = links["tiny-face-model"]
    assert page == "quality" and query.startswith("path=") and query.endswith("tiny-face-model")
    assert links["dance.mp4"][0] == "side_by_side"
    from dashboard.views.overview import OPENS

    assert OPENS["transfer"] == "views/side_by_side.py" and OPENS["run"] == "views/quality.py"
    # Picking a result (here through ?path=, in the browser test by clicking its name) opens its page.
    at = _app("overview", "results/transfer/dance.mp4.transfer.json")
    assert not at.exception and at.title[0].value == "Side by side"


@pytest.mark.ray
def test_side_by_side_shows_the_frames_of_every_video_at_one_index(roots_env: dict[str, Any]) -> None:
    at = _app("side_by_side", "transfer/held-out.mp4")
    assert not at.exception, at.exception
    shown = _captions(at)
    assert shown[:4] == [
        "source (dataset clip), frame 0",
        "normalised stick figures, frame 0",
        "synthesised output, frame 0",
        "real frame (held-out), frame 0",
    ], shown
    at.slider[0].set_value(7).run()
    shown = _captions(at)
    assert [c.rsplit(", frame ", 1)[1] for c in shown[:4]] == ["7"] * 4
    assert any(c.startswith("Face close-ups") for c in (x.value for x in at.caption))
    assert len(at.get("video")) == 3  # source, side by side, output
    # The learned detector scores the videos on demand; the scores are drawn under the timeline.
    at = _app("side_by_side", "transfer/dance.mp4")
    assert not at.exception and not [c for c in _captions(at) if c.startswith("detector's")]
    at.button(key="sbs-detect").click().run()
    assert not at.exception, at.exception
    assert "detector's per-frame P(synthetic); red: frame 0" in _captions(at), _texts(at)


@pytest.mark.ray
def test_quality_shows_the_paper_table_with_our_figures_and_the_curves(roots_env: dict[str, Any]) -> None:
    from synthesis.evaluate import format_cell

    at = _app("quality", "results/evaluation/tiny/ts_face")
    assert not at.exception, at.exception
    text = _texts(at)
    results = json.loads((roots_env["held_out"] / "results.json").read_text())
    assert "| Model | body SSIM | (paper) | body LPIPS | (paper) |" in text
    assert f"| T.S. + Face | {format_cell(results, ('body', 'ssim'), 5)} | 0.89807 |" in text
    assert "| Model | warp. err. | warp. err. real | warp. err. ratio |" in text  # the temporal metric
    assert "warp. err. source" in text  # the transfer evaluation beside it
    assert len(at.get("image")) >= 4  # charts: per-frame metrics and training losses


@pytest.mark.ray
def test_forensics_shows_curves_robustness_verdicts_and_judges_an_upload(roots_env: dict[str, Any]) -> None:
    at = _app("forensics")
    assert not at.exception, at.exception
    metrics, robustness, videos = _tables(at)[:3]
    real = roots_env["forensics"]
    assert [float(r["AP"]) for r in metrics[:2]] == [
        pytest.approx(real["metrics"]["seen"]["frame"]["ap"], abs=1e-4),
        pytest.approx(real["metrics"]["seen"]["video"]["ap"], abs=1e-4),
    ]
    assert [r["condition"] for r in robustness] == [row["label"] for row in real["robustness"]]
    assert len(videos) == len(real["videos"])
    # The detector's own test videos are written without the watermark (it must not learn the mark).
    assert {r["watermark"] for r in videos} == {"absent"}
    assert len(at.get("image")) == 3  # charts: ROC, precision-recall, one video's frame scores
    assert len(at.get("video")) == 1
    dance = roots_env["dance"]
    at.file_uploader[0].set_value(("clip.mp4", dance.read_bytes(), "video/mp4")).run()
    assert not at.exception, at.exception
    assert any(e.value.startswith("Verdict: synthetic") for e in at.error), _texts(at)
    assert "temporary copy deleted" in _texts(at)
    at.file_uploader[0].set_value(("clip.mp4", b"<html>not a video</html>", "video/mp4")).run()
    assert any("not an MP4/MOV" in e.value for e in at.error)
    truncated = dance.read_bytes()[:2000]  # starts like an MP4, cannot be decoded
    at.file_uploader[0].set_value(("cut.mp4", truncated, "video/mp4")).run()
    assert not at.exception and any(e.value.startswith("Cannot judge it: cut.mp4") for e in at.error)


@pytest.mark.ray
def test_dataset_shows_consent_splits_and_a_clip_with_its_keypoints(roots_env: dict[str, Any]) -> None:
    at = _app("dataset", "dataset")
    assert not at.exception, at.exception
    consent, clips, splits = _tables(at)[:3]
    assert {r["subject"] for r in consent} == {"demo-target", "demo-dancer-1"}
    assert {r["revoked"] for r in consent} == {"no"}
    assert "training_target" in " ".join(r["scopes"] for r in consent)
    assert {r["split"] for r in splits} == {"train", "test", "source"}
    assert len(clips) == 2
    assert _captions(at) == ["frame 0 with keypoints", "frame 0"]
    assert "Detected keypoints: body" in _texts(at)


@pytest.mark.ray
def test_every_page_refuses_a_path_outside_the_roots(roots_env: dict[str, Any]) -> None:
    for page in PAGES:
        at = _app(page, "../../../../../../etc/passwd")
        assert not at.exception, (page, at.exception)
        assert any("refused" in e.value and "outside the folders" in e.value for e in at.error), page
        assert "root:x:0:0" not in _texts(at)


# --------------------------------------------------------------------------------------------------
# End to end: the CLI starts the real server, headless Chromium drives it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _snapshot(roots: list[Path]) -> dict[str, tuple[int, int]]:
    """Every file under the roots with its size and modification time."""
    out = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                stat = path.stat()
                out[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return out


@pytest.fixture
def server(dashboard_results: dict[str, Any]) -> Iterator[str]:
    port = _free_port()
    command = [sys.executable, "-m", "dataset.cli", "dashboard", *map(str, dashboard_results["roots"])]
    command += ["--port", str(port), "--max-upload-mb", "2"]
    log = ARTIFACTS / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.read() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the dashboard did not start: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _settle(page: Any) -> None:
    """Wait until the script run has finished, every element is drawn (no loading placeholder
    left) and every image has loaded."""
    page.wait_for_selector("h1", timeout=60_000)
    page.wait_for_function(
        '() => !document.querySelector(\'[data-testid="stStatusWidget"], [data-testid="stSkeleton"]\')',
        timeout=60_000,
    )
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('img')).every(i => i.complete)", timeout=30_000
    )


def _screenshot(page: Any, name: str) -> None:
    """The whole page: Streamlit scrolls inside its own container, so the viewport grows to fit it
    (measured again after the resize, which can reflow the page)."""
    script = (
        '() => Math.max(...Array.from(document.querySelectorAll(\'[data-testid="stMain"], '
        '[data-testid="stMainBlockContainer"]\')).map(e => e.scrollHeight), 800)'
    )
    height = 0
    for _ in range(3):
        page.wait_for_timeout(300)
        needed = min(int(page.evaluate(script)) + 80, 12_000)
        if needed <= height:
            break
        height = needed
        page.set_viewport_size({"width": 1400, "height": height})
    # Charts draw once they are in view: wait for their placeholders to go.
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})


@pytest.mark.ray
@pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="needs Debian's chromium (scripts/setup.sh installs it)"
)
def test_the_real_server_in_a_real_browser(
    server: str, dashboard_results: dict[str, Any], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    before = _snapshot(dashboard_results["roots"])
    timings: dict[str, float] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
            ],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        failures: list[str] = []
        page.on("response", lambda r: failures.append(r.url) if r.status >= 500 else None)

        def visit(path: str, name: str) -> None:
            started = time.perf_counter()
            page.goto(server + path)
            _settle(page)
            timings[name] = round(time.perf_counter() - started, 2)
            assert page.locator('[data-testid="stException"]').count() == 0, (
                name,
                page.inner_text("body")[:2000],
            )
            _screenshot(page, name)

        for name in PAGES:  # cold: the first visit of each page imports and decodes what it needs
            visit("/" if name == "overview" else f"/{name}", f"{name}-cold")
        # Overview: a transfer's name opens it on the side-by-side page.
        visit("/", "overview")
        # (the link's accessible name starts with its icon's ligature, "arrow_forward")
        page.get_by_role("link", name=re.compile(r"(^|\s)dance\.mp4$")).click()
        page.wait_for_url("**/side_by_side?path=*", timeout=30_000)
        _settle(page)
        assert "transfer" in page.url
        # Side by side: three videos, every frame image at one index, play steps the slider.
        visit("/side_by_side?path=results/transfer/held-out.mp4.transfer.json", "side_by_side")
        assert page.locator("video").count() == 3
        captions = page.locator('[data-testid="stImageCaption"]').all_inner_texts()
        assert captions[:4] == [
            "source (dataset clip), frame 0", "normalised stick figures, frame 0",
            "synthesised output, frame 0", "real frame (held-out), frame 0",
        ], captions  # fmt: skip
        page.get_by_text("▶ Play").click()
        page.wait_for_function(
            "() => document.querySelector('[data-testid=\"stSliderThumbValue\"]').innerText !== '0'",
            timeout=20_000,
        )
        page.get_by_text("▶ Play").click()
        # Quality: the demo figures beside the paper's.
        visit("/quality?path=results/evaluation/tiny/ts_face", "quality")
        results = json.loads((dashboard_results["held_out"] / "results.json").read_text())
        body = page.inner_text("body")
        assert "0.89807" in body and f"{results['metrics']['body']['ssim']:.5f}" in body
        # Forensics: curves and verdicts; an upload gets a verdict.
        visit("/forensics", "forensics")
        page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(
            str(dashboard_results["dance"])
        )
        page.get_by_text("Verdict: synthetic").wait_for(timeout=60_000)
        _settle(page)
        _screenshot(page, "forensics-upload")
        too_big = tmp_path / "too-big.mp4"  # over the server's --max-upload-mb 2
        too_big.write_bytes(dashboard_results["dance"].read_bytes() + bytes(3 << 20))
        page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(too_big))
        page.get_by_text("File must be 2.0MB or smaller").wait_for(timeout=20_000)
        visit("/dataset?path=dataset", "dataset")
        assert "demo-target" in page.inner_text("body")
        # Path traversal, through the URL, in several spellings: refused, nothing shown.
        for attempt in (
            "/side_by_side?path=../../../../../../etc/passwd",
            "/dataset?path=%2Fetc",
            "/quality?path=results%2F..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
            "/forensics?path=/proc/self/environ",
        ):
            page.goto(server + attempt)
            _settle(page)
            errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
            assert any("refused" in e for e in errors), (attempt, errors)
            assert "root:x:0:0" not in page.inner_text("body")
        _screenshot(page, "traversal-refused")
        assert not failures, failures  # no image, video or page request failed
        browser.close()
    assert _snapshot(dashboard_results["roots"]) == before, "the dashboard changed its folders"
    (ARTIFACTS / "timings.json").write_text(json.dumps(timings, indent=1))
    print(f"\ndashboard screenshots and page timings (s): {ARTIFACTS}\n{json.dumps(timings)}")
