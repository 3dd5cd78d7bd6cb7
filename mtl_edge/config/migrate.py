"""Replaced settings that old recipes (and checkpoints' stored recipes) still give, read as their replacements."""

from __future__ import annotations

import copy
import warnings
from typing import Any

from .errors import fail


def migrate(data: Any, where: str, warn: bool) -> Any:
    """Recipe data with replaced settings rewritten as their replacements (``data`` is not changed).

    ``train.glimpse_epochs`` became each glimpse's ``fit_epochs``
    (:func:`mtl_edge.models.heads.glimpse.migrate_glimpse_epochs` says how).
    """
    if not isinstance(data, dict) or not isinstance(data.get("train"), dict) or "glimpse_epochs" not in data["train"]:
        return data
    from mtl_edge.models.heads.glimpse import migrate_glimpse_epochs

    try:
        data, moved = migrate_glimpse_epochs(copy.deepcopy(data))
    except ValueError as err:
        key, _, problem = str(err).partition(": ")
        raise fail(where, key, problem) from err
    if warn:
        warnings.warn(
            f"{where}: train.glimpse_epochs is deprecated; each glimpse's fit_epochs sets its fit now. Read as "
            f"{', '.join(moved) or 'nothing (no head has a glimpse)'}; write that and remove train.glimpse_epochs.",
            FutureWarning,
            stacklevel=4,
        )
    return data
