"""How every bench ends: its figures and targets on stderr, one JSON object last."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any


def report(figures: Mapping[str, Any], targets: Mapping[str, bool], width: int = 22) -> None:
    for key, value in figures.items():
        print(f"{key:{width}s} {value}", file=sys.stderr)
    for key, met in targets.items():
        print(f"target {key}: {'met' if met else 'MISSED'}", file=sys.stderr)
    print(json.dumps({**figures, "targets_met": all(targets.values())}))
