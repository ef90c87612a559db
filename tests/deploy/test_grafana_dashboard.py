"""deploy/grafana/minibot.json: valid JSON whose panels query the contract's series."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.deploy.test_prometheus_alerts import SERIES

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "minibot.json"


def test_the_dashboard_charts_every_series_and_only_those() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {
        re.sub(r"_(bucket|count|sum)$", "", name)
        for expr in exprs
        for name in re.findall(r"minibot_[a-z_]+", expr)
    }
    assert used == SERIES
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(p["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"])
