"""OpenPose JSON import/export on hand-written files: BODY_25, COCO-18, several people, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dataset.keypoints import BODY, COCO_18_NAMES, PoseSequence
from dataset.pose import OpenPoseFormatError, load_openpose_dir, load_openpose_json, write_openpose_json
from dataset.pose.openpose_json import extract_openpose


def _body25(offset: float = 0.0, conf: float = 0.9, scale: float = 1.0) -> list[float]:
    """A BODY_25 skeleton whose point i is at (100 + 10 i, 50 + 5 i) (scaled and shifted)."""
    values: list[float] = []
    for i in range(25):
        values += [offset + scale * (100 + 10 * i), offset + scale * (50 + 5 * i), conf]
    return values


def _write(folder: Path, name: str, people: Any) -> Path:
    path = folder / name
    path.write_text(json.dumps({"version": 1.3, "people": people}))
    return path


def test_body25_face_and_hands(tmp_path: Path) -> None:
    face = [v for i in range(70) for v in (200 + i, 300 + i, 0.8)]
    left = [v for i in range(21) for v in (10 + i, 20 + i, 0.7)]
    path = _write(
        tmp_path,
        "clip_000000000000_keypoints.json",
        [
            {
                "person_id": [-1],
                "pose_keypoints_2d": _body25(),
                "face_keypoints_2d": face,
                "hand_left_keypoints_2d": left,
                "hand_right_keypoints_2d": [],
            }
        ],
    )
    seq = load_openpose_json(path)
    assert len(seq) == 1
    np.testing.assert_allclose(seq.body[0, BODY["LAnkle"]], [240, 120, 0.9], rtol=1e-6)
    np.testing.assert_allclose(seq.face[0, 69], [269, 369, 0.8], rtol=1e-6)
    np.testing.assert_allclose(seq.hands[0, 0, 20], [30, 40, 0.7], rtol=1e-6)  # index 0 = subject's left
    assert not seq.hands[0, 1].any(), "an empty list means not detected"


def test_coco18_is_mapped_into_body25(tmp_path: Path) -> None:
    coco = np.zeros((18, 3))
    for i in range(len(COCO_18_NAMES)):
        coco[i] = (10 * i + 5, 7 * i + 3, 0.5 + i / 100)
    path = _write(tmp_path, "c_000000000000_keypoints.json", [{"pose_keypoints_2d": coco.ravel().tolist()}])
    body = load_openpose_json(path).body[0]
    for i, name in enumerate(COCO_18_NAMES):
        np.testing.assert_allclose(body[BODY[name]], coco[i], rtol=1e-6, err_msg=name)
    r, lft = coco[COCO_18_NAMES.index("RHip")], coco[COCO_18_NAMES.index("LHip")]
    np.testing.assert_allclose(
        body[BODY["MidHip"]], [(r[0] + lft[0]) / 2, (r[1] + lft[1]) / 2, min(r[2], lft[2])]
    )
    for foot in ("LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel"):
        assert not body[BODY[foot]].any(), f"{foot} does not exist in COCO-18"
    # Only one hip detected: no mid-hip.
    coco[COCO_18_NAMES.index("LHip")] = 0
    path = _write(tmp_path, "c_000000000001_keypoints.json", [{"pose_keypoints_2d": coco.ravel().tolist()}])
    assert not load_openpose_json(path).body[0, BODY["MidHip"]].any()


def test_largest_confident_person_is_kept(tmp_path: Path) -> None:
    small_sure = {"pose_keypoints_2d": _body25(conf=0.95, scale=0.2)}  # a confident bystander, far away
    big = {"pose_keypoints_2d": _body25(offset=3, conf=0.6, scale=1.0)}  # the subject, in front
    half = {"pose_keypoints_2d": _body25(conf=0.9)[: 3 * 8] + [0.0] * (3 * 17)}  # only the top of someone
    path = _write(tmp_path, "m_000000000000_keypoints.json", [small_sure, half, big])
    body = load_openpose_json(path).body[0]
    np.testing.assert_allclose(body[0], [103, 53, 0.6], rtol=1e-6)


def test_no_people_and_missing_files_give_empty_frames(tmp_path: Path) -> None:
    _write(tmp_path, "v_000000000000_keypoints.json", [{"pose_keypoints_2d": _body25()}])
    _write(tmp_path, "v_000000000001_keypoints.json", [])
    # frame 2 has no file; frame 3 is a person without a body but with a face
    _write(tmp_path, "v_000000000003_keypoints.json", [{"face_keypoints_2d": [1.0, 2.0, 0.5] * 70}])
    seq = load_openpose_dir(tmp_path)
    assert len(seq) == 4
    assert seq.body[0].any()
    assert not seq.body[1].any() and not seq.face[1].any() and not seq.hands[1].any()
    assert not seq.body[2].any()
    assert not seq.body[3].any() and seq.face[3].any()
    # The video's frame count keeps trailing frames OpenPose skipped.
    assert len(extract_openpose(tmp_path, n_frames=6)) == 6
    with pytest.raises(OpenPoseFormatError, match="beyond the video's 3 frames"):
        load_openpose_dir(tmp_path, n_frames=3)


def test_frames_sorted_by_number_not_name(tmp_path: Path) -> None:
    # Unpadded numbers sort wrongly as text ("10" < "9"); the frame number decides.
    for k in (9, 10, 0):
        _write(tmp_path, f"x_{k}_keypoints.json", [{"pose_keypoints_2d": _body25(offset=k)}])
    seq = load_openpose_dir(tmp_path)
    assert len(seq) == 11
    assert seq.body[9, 0, 0] == pytest.approx(109) and seq.body[10, 0, 0] == pytest.approx(110)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "top level is a list"),
        ('{"version": 1.3}', "no 'people' key"),
        ('{"people": {"a": 1}}', "'people' is a dict"),
        ('{"people": [{"pose_keypoints_2d": [1, 2, 3]}]}', "has 3 values, expected 75"),
        ('{"people": [{"pose_keypoints_2d": "abc"}]}', "is a str, expected a list"),
        ('{"people": [{"face_keypoints_2d": [1, 2, 3]}]}', "'face_keypoints_2d' has 3 values, expected 210"),
        ('{"people": [{"hand_left_keypoints_2d": ' + json.dumps(["a"] * 63) + "}]}", "non-numeric"),
        ('{"people": [3]}', r"people\[0\] is a int"),
    ],
)
def test_malformed_files_give_one_line_errors_naming_the_file(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad_000000000004_keypoints.json"
    path.write_text(content)
    with pytest.raises(OpenPoseFormatError, match=message) as info:
        load_openpose_json(path)
    text = str(info.value)
    assert text.startswith(str(path)) and "\n" not in text


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(OpenPoseFormatError, match="not a folder"):
        load_openpose_dir(tmp_path / "missing")
    with pytest.raises(OpenPoseFormatError, match=r"no \*_keypoints\.json files"):
        load_openpose_dir(tmp_path)
    _write(tmp_path, "a_000000000001_keypoints.json", [])
    _write(tmp_path, "b_1_keypoints.json", [])
    with pytest.raises(OpenPoseFormatError, match="frame number 1 is also in"):
        load_openpose_dir(tmp_path)


def test_round_trip_through_write_openpose_json(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 5
    seq = PoseSequence(
        rng.uniform(0, 500, (n, 25, 3)), rng.uniform(0, 500, (n, 70, 3)), rng.uniform(0, 500, (n, 2, 21, 3))
    )
    for part in (seq.body, seq.face, seq.hands):
        part[..., 2] = rng.uniform(0.01, 1.0, part.shape[:-1])
    seq.body[1, [3, 20, 23]] = 0  # some undetected points
    seq.hands[2, 0] = 0  # a missing hand
    seq.body[3], seq.face[3], seq.hands[3] = 0, 0, 0  # nobody in frame 3
    paths = write_openpose_json(seq, tmp_path / "json", "dance")
    assert [p.name for p in paths][:2] == [
        "dance_000000000000_keypoints.json",
        "dance_000000000001_keypoints.json",
    ]
    assert json.loads(paths[3].read_text())["people"] == []
    assert len(json.loads(paths[0].read_text())["people"][0]["pose_keypoints_2d"]) == 75
    back = load_openpose_dir(tmp_path / "json", n_frames=n)
    for a, b in ((seq.body, back.body), (seq.face, back.face), (seq.hands, back.hands)):
        assert np.array_equal(a, b), "float32 values must survive the JSON round trip exactly"
