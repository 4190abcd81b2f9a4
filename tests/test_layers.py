"""The test layers: which runs get pytest-xdist workers (the unit layer alone) and which stay serial."""

from __future__ import annotations

import pytest

from tests.helpers import LAYERS, unit_layer_workers

UNIT = "not broker and not spark and not e2e"


@pytest.mark.parametrize("markexpr", [UNIT, "(not broker) and not (spark or e2e)", "not e2e and not spark and not broker"])
def test_the_unit_layer_alone_runs_on_every_core(markexpr):
    assert unit_layer_workers(markexpr, None, 2) == 2
    assert unit_layer_workers(markexpr, None, 8) == 8


@pytest.mark.parametrize("markexpr", ["", "not broker and not spark", "not e2e", "spark", "broker or not spark",
                                      "not broker and not spark and not e2e and slow", "not ("])
def test_runs_with_a_layer_or_without_unit_tests_stay_serial(markexpr):
    assert unit_layer_workers(markexpr, None, 2) == 0


def test_an_explicit_n_and_one_core_are_respected():
    assert unit_layer_workers(UNIT, 0, 2) == 0       # -n 0
    assert unit_layer_workers(UNIT, 3, 2) == 0       # -n 3: xdist takes it as given
    assert unit_layer_workers(UNIT, None, 1) == 0


def test_every_layer_is_a_declared_marker(pytestconfig):
    declared = {line.split(":")[0].strip() for line in pytestconfig.getini("markers")}
    assert set(LAYERS) <= declared
