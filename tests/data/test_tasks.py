"""Head specs: one category table per head, read alike by the dataset and the evaluation; the registry."""

from __future__ import annotations

import numpy as np
import pytest

from mtl_edge.data.labels import SIGN_CLASSES, VEHICLE_CLASSES, Box2D, FrameLabels, ObjectLabel
from mtl_edge.data.tasks import SPECS, HeadSpec, Labels, register_spec, spec_for, unregister_spec

FRAME = FrameLabels(
    name="x.jpg",
    objects=[
        ObjectLabel("bike", Box2D(0, 0, 10, 10)),  # BDD100K's spelling of "bicycle"
        ObjectLabel("traffic sign", Box2D(20, 0, 30, 10), sign_type="stop"),
        ObjectLabel("traffic sign", Box2D(40, 0, 50, 10)),  # untyped, as in real BDD100K
        ObjectLabel("pedestrian", Box2D(60, 0, 70, 10)),  # no head predicts it
    ],
)


def test_the_shipped_heads_have_specs_in_the_default_order():
    assert tuple(SPECS)[:4] == ("lanes", "vehicles", "signs", "drivable")
    assert [spec_for(h).metric for h in ("lanes", "vehicles", "signs", "drivable")] == ["f1", "mAP50", "mAP50", "miou"]


def test_one_category_table_serves_targets_and_ground_truth():
    vehicles, signs = spec_for("vehicles"), spec_for("signs")
    labels = [(vehicles.box_label(o, Labels(FRAME)), signs.box_label(o, Labels(FRAME))) for o in FRAME.objects]
    if "bicycle" in VEHICLE_CLASSES:
        assert labels[0] == ((VEHICLE_CLASSES.index("bicycle"), False), None)
    assert labels[1] == (None, (SIGN_CLASSES.index("stop"), False))
    assert labels[2] == (None, (-1, True)), "an untyped sign is the signs head's, class unknown, ignored"
    assert labels[3] == (None, None)
    boxes, classes, ignore = signs.ground_truth(Labels(FRAME), (100, 100))
    assert boxes.tolist() == [[20, 0, 30, 10], [40, 0, 50, 10]]
    assert classes.tolist() == [SIGN_CLASSES.index("stop"), 0] and ignore.tolist() == [False, True]


def test_a_frame_without_a_mask_has_no_drivable_truth_and_a_zero_target():
    drivable = spec_for("drivable")
    assert drivable.ground_truth(Labels(FRAME), (8, 8)) is None and not drivable.supervises(
        Labels(FRAME), frozenset({"drivable"})
    )
    assert (np.asarray(drivable.targets(Labels(FRAME), (8, 8), active=True)["drivable"]) == 0).all()


def test_a_spec_name_is_registered_once_and_can_be_forgotten():
    with pytest.raises(ValueError, match="already registered"):
        register_spec("lanes", HeadSpec())
    with pytest.raises(ValueError, match="register_spec"):
        spec_for("nope")
    register_spec("nope", HeadSpec())
    unregister_spec("nope")
    assert "nope" not in SPECS
