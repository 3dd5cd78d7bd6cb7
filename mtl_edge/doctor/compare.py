"""The doctor's comparison of a TensorRT engine's outputs with ONNX Runtime's on the same frames.

Per head and output the largest deviation (:func:`output_deviation`), and a verdict against a
tolerance per precision, each head judged in its own terms (:func:`compare_heads`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Generated frames for the TensorRT-vs-ORT comparison.
COMPARE_FRAMES = 4


def compare_frames(input_hw: tuple[int, int], n: int = COMPARE_FRAMES) -> np.ndarray:
    """``n`` generated driving scenes, letterboxed to the model input: uint8 [n, H, W, 3]."""
    from mtl_edge.data.synth.render import render
    from mtl_edge.data.synth.scene import sample_scene
    from mtl_edge.deploy.letterbox import letterbox_image

    return np.stack([letterbox_image(render(sample_scene(1000 + i)).image, input_hw)[0] for i in range(n)])


def output_deviation(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per output: max absolute difference (and the fraction of differing values); per head: the largest."""
    outputs: dict[str, dict[str, float]] = {}
    heads: dict[str, float] = {}
    for name, ref in reference.items():
        got = np.asarray(other[name])
        if got.shape != ref.shape:
            outputs[name] = {"max_abs": float("inf"), "differ_fraction": 1.0}
        else:
            diff = np.abs(ref.astype(np.float64) - got.astype(np.float64))
            outputs[name] = {"max_abs": float(diff.max(initial=0.0)), "differ_fraction": float((diff > 0).mean())}
        head = name.split(".", 1)[0]
        heads[head] = max(heads.get(head, 0.0), outputs[name]["max_abs"])
    return {"heads_max_abs": heads, "outputs": outputs}


#: Per precision, how far TensorRT may stray from ONNX Runtime on the same graph: lane x (input
#: pixels, 99th percentile) and score, detection box IoU and score, fraction of equal mask / valid
#: values, and the fraction of confident detections that must find their partner. The gaps come
#: from kernel choice (TF32 for fp32 convs, fp16 accumulation order, int8 rounding).
PARITY_TOLERANCE = {
    "fp32": {"px": 1.0, "score": 0.01, "iou": 0.9, "agree": 0.995, "matched": 1.0},
    "fp16": {"px": 2.0, "score": 0.02, "iou": 0.85, "agree": 0.99, "matched": 0.95},
    "int8": {"px": 6.0, "score": 0.08, "iou": 0.7, "agree": 0.97, "matched": 0.85},
}
DETECTION_SCORE = 0.3  # a detection "is there" above this; matching allows a margin either side
SCORE_MARGIN = 0.1


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    lo, hi = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    union = float(np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter)
    return inter / union if union > 0 else 0.0


def _matched_fraction(ref: dict, got: dict, head: str, iou_min: float, score_tol: float) -> float:
    """Fraction of confident detections (score >= threshold + margin) on either side found on the other.

    A partner has the same class, IoU >= ``iou_min``, a score within ``score_tol`` and at least
    threshold - margin (so a box hovering at the threshold is not counted as missing).
    """
    hits = total = 0
    for a, b in ((ref, got), (got, ref)):
        for i in range(a[f"{head}.scores"].shape[0]):
            boxes_b, scores_b, classes_b = b[f"{head}.boxes"][i], b[f"{head}.scores"][i], b[f"{head}.classes"][i]
            for box, score, cls in zip(a[f"{head}.boxes"][i], a[f"{head}.scores"][i], a[f"{head}.classes"][i]):
                if score < DETECTION_SCORE + SCORE_MARGIN:
                    continue
                total += 1
                hits += any(
                    c == cls
                    and s >= DETECTION_SCORE - SCORE_MARGIN
                    and abs(s - score) <= score_tol
                    and _iou(box, bb) >= iou_min
                    for bb, s, c in zip(boxes_b, scores_b, classes_b)
                )
    return hits / total if total else 1.0


def compare_heads(ref: dict[str, np.ndarray], got: dict[str, np.ndarray], precision: str) -> dict[str, str]:
    """Failures by head or output where ``got`` strays from ``ref`` beyond ``PARITY_TOLERANCE[precision]``.

    Each head is compared in its own terms: detections box to box, lanes point by point, masks
    pixel by pixel. Empty when everything is within tolerance.
    """
    tol, failures, seen = PARITY_TOLERANCE[precision], {}, set()
    if set(ref) != set(got):
        raise ValueError(f"the two models have different outputs: {sorted(ref)} vs {sorted(got)}")
    for name in ref:
        if got[name].shape != ref[name].shape or got[name].dtype != ref[name].dtype:
            failures[name] = f"{got[name].dtype} {list(got[name].shape)} vs {ref[name].dtype} {list(ref[name].shape)}"
    if failures:
        return failures
    for head in sorted({n.split(".")[0] for n in ref}):
        if f"{head}.boxes" in ref:
            seen |= {f"{head}.boxes", f"{head}.scores", f"{head}.classes"}
            frac = _matched_fraction(ref, got, head, tol["iou"], tol["score"])
            if frac < tol["matched"]:
                failures[head] = f"only {frac:.2%} of confident detections matched (need {tol['matched']:.0%})"
        if f"{head}.x" in ref:
            seen |= {f"{head}.x", f"{head}.valid", f"{head}.score"}
            both = (ref[f"{head}.valid"] > 0) & (got[f"{head}.valid"] > 0)
            dx = np.abs(ref[f"{head}.x"] - got[f"{head}.x"])[both]
            agree = float((ref[f"{head}.valid"] == got[f"{head}.valid"]).mean())
            dscore = float(np.abs(ref[f"{head}.score"] - got[f"{head}.score"]).max())
            if dx.size and np.percentile(dx, 99) > tol["px"]:
                failures[f"{head}.x"] = f"99th percentile |dx| {np.percentile(dx, 99):.2f} px > {tol['px']} px"
            if agree < tol["agree"]:
                failures[f"{head}.valid"] = f"{agree:.3%} of valid flags agree (need {tol['agree']:.1%})"
            if dscore > tol["score"]:
                failures[f"{head}.score"] = f"max |dscore| {dscore:.3f} > {tol['score']}"
        if f"{head}.mask" in ref:
            seen.add(f"{head}.mask")
            agree = float((ref[f"{head}.mask"] == got[f"{head}.mask"]).mean())
            if agree < tol["agree"]:
                failures[f"{head}.mask"] = f"{agree:.3%} of mask pixels agree (need {tol['agree']:.1%})"
    for name in sorted(set(ref) - seen):
        failures[name] = "an output this comparison does not know; extend compare_heads"
    return failures
