"""The bdd100k-yolop protocol: every number of a hand-made fixture worked out by hand, then through ``evaluate``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtl_edge.data.labels import Box2D, FrameLabels, LaneLabel, ObjectLabel
from mtl_edge.data.tasks import Labels
from mtl_edge.deploy.results import Detection, FrameResult, HeadResult, Lane
from mtl_edge.deploy.tasks import DetectionTask, LanesTask, SegmentationTask
from mtl_edge.yolop_protocol import YolopProtocol, eval_hw, resize_binary, yolop_ap, yolop_match

HW = (4, 5)  # every hand-made frame is 5 px wide, 4 px high


def _obj(category: str, box: tuple[float, float, float, float], ignore: bool = False) -> ObjectLabel:
    return ObjectLabel(category, Box2D(*box), ignore=ignore)


def _det(label: str, score: float, box: tuple[float, float, float, float]) -> Detection:
    return Detection(label, score, box)


def _lane(*points: tuple[float, float]) -> Lane:
    return Lane(0, 1.0, np.asarray(points, np.float32))


def _result(dets: list[Detection], mask: np.ndarray | None, lanes: list[Lane]) -> FrameResult:
    heads = {
        "vehicles": HeadResult(DetectionTask(), dets),
        "drivable": HeadResult(SegmentationTask(), mask),
        "lanes": HeadResult(LanesTask(), lanes),
    }
    return FrameResult(index=0, timestamp=0.0, heads=heads)


def _fixture() -> list[tuple[FrameResult, Labels]]:
    """Three 5x4 frames with boxes, drivable masks and lanes; the totals are worked out in the test."""
    # Frame A. Vehicles: GT car G1 [0,0,4,4] and bus G2 [1,0,5,4] (IoU(G1, G2) = 12 / 20 = 0.6); the
    # pedestrian is no vehicle. Detections: the motorcycle (0.95) is dropped; "car" 0.9 = G1 -> best G1
    # (IoU 1) -> TP; "truck" 0.8 = G1 again -> best is G1, already taken -> FP (COCO would give it G2 at
    # IoU 0.6; YOLOP does not fall back), so G2 is missed.
    # Drivable label (1 direct, 2 alternative) and prediction; drivable = value >= 1:
    #   label            prediction
    #   0 0 0 0 0        0 0 0 0 0
    #   0 0 0 0 0        0 0 0 0 2    row 1: 1 FP
    #   1 1 2 2 0        1 1 1 0 0    row 2: 3 TP, col 3 is 1 FN
    #   1 1 1 2 0        1 2 1 1 0    row 3: 4 TP
    #   -> TP 7, FP 1, FN 1, TN 20 - 9 = 11.
    # Lanes (1 px wide): GT x = 1, rows 0..3 (4 px); predicted x = 1 rows 2..3 (2 px, both on the GT)
    # and x = 3 rows 0..3 (4 px, off it) -> TP 2, FP 4, FN 2, TN 20 - 8 = 12.
    gt_a = np.array([[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1, 1, 2, 2, 0], [1, 1, 1, 2, 0]], np.uint8)
    pr_a = np.array([[0, 0, 0, 0, 0], [0, 0, 0, 0, 2], [1, 1, 1, 0, 0], [1, 2, 1, 1, 0]], np.uint8)
    frame_a = FrameLabels(
        "a.jpg",
        objects=[_obj("car", (0, 0, 4, 4)), _obj("bus", (1, 0, 5, 4)), _obj("pedestrian", (0, 0, 2, 4))],
        lanes=[LaneLabel(np.array([[1, 0], [1, 3]], np.float32))],
    )
    result_a = _result(
        [_det("motorcycle", 0.95, (0, 0, 2, 4)), _det("car", 0.9, (0, 0, 4, 4)), _det("truck", 0.8, (0, 0, 4, 4))],
        pr_a,
        [_lane((1, 2), (1, 3)), _lane((3, 0), (3, 3))],
    )
    # Frame B. Vehicles: GT train G3 [0,0,4,4], flagged ignore: the peers have no ignore flag, so it counts;
    # "motor" (old spelling of motorcycle) and "trailer" are no vehicles. "bus" 0.7 [0,0,4,3] has IoU
    # 12 / 16 = 0.75 with G3 -> TP. No drivable label: drivable skips the frame (its prediction too).
    # Lanes: GT row y = 1, x 0..4 (5 px) and a lone vertex (2, 3) (1 px); predicted the same row -> TP 5,
    # FN 1, FP 0, TN 20 - 6 = 14.
    frame_b = FrameLabels(
        "b.jpg",
        objects=[_obj("train", (0, 0, 4, 4), ignore=True), _obj("motor", (0, 0, 1, 1)), _obj("trailer", (1, 1, 3, 3))],
        lanes=[LaneLabel(np.array([[0, 1], [4, 1]], np.float32)), LaneLabel(np.array([[2, 3]], np.float32))],
    )
    result_b = _result([_det("bus", 0.7, (0, 0, 4, 3))], np.ones(HW, np.uint8), [_lane((0, 1), (4, 1))])
    # Frame C. No boxes, no detections. Drivable label all background, 2 pixels predicted drivable
    # -> FP 2, TN 18. No lanes labelled or predicted -> TN 20.
    pr_c = np.zeros(HW, np.uint8)
    pr_c[0, :2] = 1
    frame_c = FrameLabels("c.jpg")
    result_c = _result([], pr_c, [])
    return [
        (result_a, Labels(frame_a, mask=gt_a)),
        (result_b, Labels(frame_b)),
        (result_c, Labels(frame_c, mask=np.zeros(HW, np.uint8))),
    ]


def test_every_number_of_the_hand_made_fixture():
    proto = YolopProtocol(long_side=None, lane_width=1)  # score at the source size, 1-px lanes
    for result, labels in _fixture():
        proto.update(result, labels, HW)
    m = proto.compute()

    # Vehicles: GT G1, G2, G3 = 3. Detections by score: 0.9 TP, 0.8 FP, 0.7 TP.
    #   recall    1/3, 1/3, 2/3        precision 1, 1/2, 2/3
    # Recall over every detection: 2 / 3.
    # AP: recall points [0, 1/3, 1/3, 2/3, 2/3 + 0.01], precision [1, 1, 1/2, 2/3, 0], envelope
    # [1, 1, 2/3, 2/3, 0]. Interpolated at x = k / 100: k = 0..33 (x < 1/3) -> 1 (34 points);
    # k = 34..66 -> 2/3 (33 points); k = 67: x = 0.67 is 1/3 of the way from 2/3 to 2/3 + 0.01, so
    # 2/3 * (1 - 1/3) = 4/9; k >= 68 -> 0. Trapezoid with step 0.01:
    #   0.01 * (sum of the 101 values - (first + last) / 2) = 0.01 * (34 + 22 + 4/9 - 1/2) = 1007 / 1800.
    assert m["vehicle_num_gt"] == 3 and m["vehicle_num_pred"] == 3 and m["vehicle_tp"] == 2
    assert m["vehicle_recall"] == pytest.approx(2 / 3, abs=1e-12)
    assert m["vehicle_map50"] == pytest.approx(1007 / 1800, abs=1e-9)

    # Drivable over frames A and C (B has no label): TP 7, FP 1 + 2 = 3, FN 1, TN 11 + 18 = 29.
    # IoU drivable 7 / (7 + 3 + 1) = 7/11, background 29 / (29 + 3 + 1) = 29/33; mIoU = (21/33 + 29/33) / 2 = 25/33.
    assert m["drivable_images"] == 2 and m["drivable_pixels"] == 40
    assert m["drivable_iou"] == pytest.approx(7 / 11, abs=1e-12)
    assert m["drivable_miou"] == pytest.approx(25 / 33, abs=1e-12)

    # Lanes over the three frames (60 px): TP 2 + 5 = 7, FN 2 + 1 = 3, FP 4, TN 12 + 14 + 20 = 46.
    # Predicted pixels 6 + 5 = 11. Accuracy (lane-pixel recall) 7/10; IoU 7 / (7 + 4 + 3) = 1/2;
    # balanced (7/10 + 46/50) / 2 = 0.81.
    assert (m["lane_gt_pixels"], m["lane_pred_pixels"], m["lane_tp_pixels"]) == (10, 11, 7)
    assert m["lane_accuracy"] == pytest.approx(0.7, abs=1e-12)
    assert m["lane_iou"] == pytest.approx(0.5, abs=1e-12)
    assert m["lane_balanced_accuracy"] == pytest.approx(0.81, abs=1e-12)
    assert m["num_images"] == m["lane_images"] == m["vehicle_images"] == 3


def test_a_frame_scores_only_the_heads_it_labels():
    """Frame A again, but its dataset labels only lanes (a lane dataset): boxes and mask are not scored."""
    (result_a, labels_a), *_ = _fixture()
    proto = YolopProtocol(long_side=None, lane_width=1)
    labels_a.supervised = frozenset({"lanes"})
    proto.update(result_a, labels_a, HW)
    m = proto.compute()
    assert m["vehicle_num_gt"] == 0 and m["vehicle_num_pred"] == 0 and m["drivable_images"] == 0
    assert m["lane_images"] == 1 and m["lane_gt_pixels"] > 0


def test_matching_is_strict_and_does_not_fall_back():
    gt = np.array([[0, 0, 4, 4], [1, 0, 5, 4]], np.float64)
    # IoU exactly 0.5 ([0,0,4,2] in [0,0,4,4]: 8 / 16) is not a match (YOLOP: iou > 0.5).
    assert yolop_match(np.array([[0, 0, 4, 2]]), gt[:1]).tolist() == [False]
    # The second copy of G1's box: best GT is G1 (taken) -> FP, although G2 overlaps it by 0.6.
    assert yolop_match(np.array([[0, 0, 4, 4], [0, 0, 4, 4]]), gt).tolist() == [True, False]
    # A box whose best GT is G2 takes it: [1,0,5,4] has IoU 1 with G2.
    assert yolop_match(np.array([[0, 0, 4, 4], [1, 0, 5, 4]]), gt).tolist() == [True, True]
    assert yolop_match(np.zeros((0, 4)), gt).tolist() == []


def test_ap_of_a_perfect_and_an_empty_curve():
    # Every detection right: precision 1 up to recall 1, envelope 1 on [0, 1] -> AP 1.
    assert yolop_ap(np.array([0.5, 1.0]), np.array([1.0, 1.0])) == pytest.approx(1.0, abs=1e-12)
    # Half the GT found at precision 1: 1 on k = 0..50, then 1 -> 0 between 0.50 and 0.51 (k = 51 is 0):
    # 0.01 * (51 - 1/2) = 0.505.
    assert yolop_ap(np.array([0.5]), np.array([1.0])) == pytest.approx(0.505, abs=1e-12)


def test_shrinking_to_the_peers_size():
    assert eval_hw((720, 1280)) == (360, 640)
    assert YolopProtocol().line_width((720, 1280)) == 8 and YolopProtocol().line_width((360, 640)) == 4
    # A 2x shrink: labels keep a pixel when any of its 4 source pixels is set, predictions by majority.
    one = np.zeros((2, 2), bool)
    one[0, 0] = True
    three = np.ones((2, 2), bool)
    three[1, 1] = False
    assert resize_binary(one, (1, 1), any_pixel=True).tolist() == [[True]]
    assert resize_binary(one, (1, 1), any_pixel=False).tolist() == [[False]]
    assert resize_binary(three, (1, 1), any_pixel=False).tolist() == [[True]]
    # Through the protocol: a 4x8 frame scored at long side 4 (2x4). The label has one drivable pixel in
    # the left 2x2 block and a full right 2x2 block; the prediction has 3 of 4 in the left block only.
    # Block by block, the label shrinks to [[1, 0, 0, 1], [0, 0, 0, 0]] (left: any of 4; right: all 4) and
    # the prediction to [[1, 0, 0, 0], [0, 0, 0, 0]] (3 of 4). TP 1, FN 1, FP 0, TN 6: IoU drivable 1/2,
    # background 6/7.
    truth = np.zeros((4, 8), np.uint8)
    truth[0, 0] = 1
    truth[0:2, 6:8] = 2
    pred = np.zeros((4, 8), np.uint8)
    pred[0:2, 0:2] = 1
    pred[1, 1] = 0
    proto = YolopProtocol(long_side=4)
    proto.update(_result([], pred, []), Labels(FrameLabels("x.jpg"), mask=truth), (4, 8))
    m = proto.compute()
    assert m["drivable_pixels"] == 8
    assert m["drivable_miou"] == pytest.approx((1 / 2 + 6 / 7) / 2, abs=1e-12)


def test_identical_720p_lanes_score_one_and_missing_heads_are_nan():
    lane = np.array([[100, 700], [400, 300], [620, 120]], np.float32)
    proto = YolopProtocol()
    frame = FrameLabels("x.jpg", lanes=[LaneLabel(lane)])
    proto.update(_result([], None, [Lane(0, 1.0, lane)]), Labels(frame), (720, 1280))
    m = proto.compute()
    assert m["lane_accuracy"] == m["lane_iou"] == 1.0 and m["lane_gt_pixels"] > 0
    assert m["drivable_images"] == 0 and math.isnan(m["drivable_miou"])
    # The vehicles head is there but the frame has no vehicles: recall and AP are NaN, not 0.
    assert math.isnan(m["vehicle_recall"]) and math.isnan(m["vehicle_map50"])

    bare = YolopProtocol()
    bare.update(FrameResult(index=0, timestamp=0.0), Labels(frame), (720, 1280))
    out = bare.compute()
    assert out["num_images"] == 1 and out["lane_images"] == out["vehicle_images"] == 0
    assert all(math.isnan(out[k]) for k in ("vehicle_recall", "drivable_miou", "lane_accuracy", "lane_iou"))


def test_evaluate_adds_the_protocol(tiny_run, tiny_data):
    from mtl_edge.evaluate import evaluate, print_summary, protocol_table
    from mtl_edge.models.loading import load_model

    net, _ = load_model(tiny_run / "best.pt")
    plain = evaluate(net, tiny_data[1], (128, 224), n_images=4)
    res = evaluate(net, tiny_data[1], (128, 224), n_images=4, protocol="bdd100k-yolop")
    assert "bdd100k-yolop" not in plain
    np.testing.assert_equal({k: v for k, v in res.items() if k != "bdd100k-yolop"}, plain)
    numbers = res["bdd100k-yolop"]
    assert numbers["num_images"] == 4
    for key in ("vehicle_recall", "vehicle_map50", "drivable_miou", "lane_accuracy", "lane_iou"):
        assert 0.0 <= numbers[key] <= 1.0, key
    table = protocol_table(numbers)
    assert "this model" in table and "YOLOP" in table and "HybridNets" in table
    assert "bdd100k-yolop" in print_summary(res)
    with pytest.raises(ValueError, match="unknown evaluation protocol"):
        evaluate(net, tiny_data[1], (128, 224), n_images=1, protocol="coco")
