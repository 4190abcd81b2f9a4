"""The estimates see the cross-match and the data-set options (no broker needed)."""

from __future__ import annotations

import pytest

from engine.dataset import unit_hash
from engine.estimate import estimate, exact_count, load_index
from engine.query import JobSpec
from tests import xmatch_data
from tests.helpers import expected_rows

RADIUS = 2.0


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return xmatch_data.edge_archive(tmp_path_factory.mktemp("est") / "ztf")


def _spec(**kw):
    return JobSpec(survey="ztf", start=xmatch_data.NIGHTS[0], stop=xmatch_data.NIGHTS[1], **kw)


def test_xmatch_lowers_the_fast_estimate_and_the_exact_count_applies_it(archive, tmp_path):
    alerts = xmatch_data.alert_positions(archive)
    cat = xmatch_data.catalogue_near(alerts, RADIUS).iloc[:40]  # a few targets: a small footprint
    path = xmatch_data.write_csv(cat, tmp_path / "few.csv")
    spec = _spec(xmatch={"path": str(path), "ra": "ra", "dec": "dec", "id": "name", "radius_arcsec": RADIUS})
    index = load_index(archive)
    plain = estimate(_spec(), index, archive_dir=archive)
    est = estimate(spec, index, archive_dir=archive)
    want = len(xmatch_data.reference(alerts, cat, RADIUS))
    assert want <= est.n_alerts < plain.n_alerts / 2  # an upper bound, far below the plain estimate
    assert "footprint" in est.adjustments
    assert exact_count(spec, archive).count == want


def test_sample_and_cap_in_both_estimates(archive):
    full = expected_rows(archive, xmatch_data.NIGHTS)
    cap = int(full["finkclass"].value_counts().iloc[0] // 2)
    options = {"sample_fraction": 0.5, "seed": 2, "max_per_class": cap}
    sampled = full[unit_hash(full["candid"].tolist(), 2) < 0.5]
    want = int(sampled["finkclass"].value_counts().clip(upper=cap).sum())
    assert exact_count(_spec(dataset=options), archive).count == want
    est = estimate(_spec(dataset=options), load_index(archive))
    plain = estimate(_spec(), load_index(archive))
    assert est.n_alerts < plain.n_alerts * 0.5 + 1
    assert abs(est.n_alerts - want) <= 0.25 * want  # expected counts, not exact ones
