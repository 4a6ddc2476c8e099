"""kd_lib.verdicts: each claim's verdict from fixed synthetic
measurements, every branch, the scopes and the input checks."""

import copy

import pytest

from kd_lib.chapters.claims import (
    THRESHOLDS,
    VERDICTS,
    ClaimVerdict,
    claim_verdicts,
)

GOOD, CHANCE = [0.99, 1.0, 0.98], [0.25, 0.26, 0.24]


def _measurements():
    return {
        "pooling_layers": 0,
        "macs": {"LSTM": 9888, "TCN": 9000},
        "speed": {
            "inference, batch 1": {16: 0.5, 256: 1.5, 2048: 3.0},
            "inference, batch 64": {16: 0.3, 256: 0.4, 2048: 0.3},
            "training, batch 32": {64: 0.4, 1024: 0.8},
            "streaming, batch 1": {1: 0.4},
        },
        "memory": {"training": 0.6, "inference": 1.5, "streaming": 20.0},
        "receptive_field": 7,
        "recall": {
            4: {"LSTM": GOOD, "TCN": GOOD},
            12: {"LSTM": GOOD, "TCN": CHANCE},
            48: {"LSTM": [0.5, 0.6, 0.4], "TCN": CHANCE},
        },
        "chance": 0.25,
        "digits": {
            "sequential": {
                "LSTM": [0.90, 0.91, 0.92],
                "TCN": [0.95, 0.96, 0.97],
            },
            "permuted": {
                "LSTM": [0.93, 0.92, 0.94],
                "TCN": [0.93, 0.925, 0.935],
            },
        },
        "gradient": {"LSTM": 1e-9, "TCN": 1e-2},
        "largest_gradient_norm": {"LSTM": 5.0, "TCN": 3.0},
        "converged": {"LSTM": True, "TCN": True},
        "variable_length": {
            "LSTM": {
                "batched_equals_alone": True,
                "batched": 0.9,
                "right_pad": 0.3,
            },
            "TCN": {
                "batched_equals_alone": True,
                "batched": 1.0,
                "right_pad": 0.3,
            },
        },
        "budget": "60 epochs, tuned, 3 seeds",
        "setup": "10k parameters, 1 thread, cpu",
    }


def _by_claim(m, **kw):
    return {v.claim: v for v in claim_verdicts(m, **kw)}


def test_every_claim_gets_one_verdict_with_a_scope():
    v = claim_verdicts(_measurements())
    assert [x.claim for x in v] == [
        f"{p}{i}" for p in "LTC" for i in range(1, 5)
    ]
    for x in v:
        assert x.verdict in VERDICTS and x.scope and x.evidence
        assert len(x.row()) == 4


def test_branches_on_the_reference_measurements():
    v = _by_claim(_measurements())
    assert v["L1"].text == "holds only when distance <= 12"
    assert v["L2"].text == "holds only when packed or masked"
    assert v["L3"].verdict == "does not hold"
    assert v["L4"].verdict == "holds only when"
    assert v["L4"].condition.startswith("untrained")
    assert v["T1"].text == "holds only when inference, batch 1, T >= 256"
    assert v["T2"].verdict == "holds only when"
    assert "sequential" in v["T2"].condition
    assert "permuted" not in v["T2"].condition
    assert v["T3"].text == (
        "holds only when distance >= receptive field (7)"
    )
    assert v["T4"].verdict == "does not hold"
    assert v["C1"].verdict == "does not hold"
    assert "Lea" not in v["C1"].scope and "encoder" in v["C1"].scope
    assert v["C2"].text == "holds only when inference, batch 1, T >= 256"
    assert v["C3"].text == "holds only when distance 12"
    assert v["C4"].text == "holds only when training"
    assert "60 epochs" in v["L1"].scope and "batch 64" in v["T1"].scope


def test_other_branches():
    m = _measurements()
    m["recall"][48]["LSTM"] = GOOD
    m["recall"][12]["TCN"] = GOOD  # sees beyond its field?
    m["pooling_layers"] = 2
    m["gradient"] = {"LSTM": 0.5, "TCN": 1e-6}
    m["converged"] = {"LSTM": True, "TCN": False}
    m["memory"] = {"training": 0.5, "inference": 0.5, "streaming": 0.5}
    m["speed"] = {"inference, batch 1": {16: 2.0, 2048: 3.0}}
    m["macs"] = {"LSTM": 30000, "TCN": 9000}
    m["variable_length"]["LSTM"]["batched_equals_alone"] = False
    m["digits"]["permuted"]["TCN"] = [0.3, 0.3, 0.3]
    m["digits"]["sequential"]["TCN"] = [0.3, 0.3, 0.3]
    v = _by_claim(m)
    assert v["L1"].text == "holds"
    assert v["L2"].text == "does not hold"
    assert v["L3"].text == "holds"
    assert v["L4"].text == "does not hold"
    assert v["T1"].text == "holds" and v["C2"].text == "holds"
    assert v["T2"].text == "holds only when left-padded or masked; no win"
    assert v["T3"].text == "does not hold"
    assert v["T4"].text == "holds"
    assert v["C1"].text == "holds" and v["C4"].text == "holds"
    assert v["C3"].text == "holds only when distance 48"


def test_c3_holds_beyond_the_field_when_the_lstm_bridges_every_gap():
    m = _measurements()
    m["recall"][48]["LSTM"] = GOOD
    v = _by_claim(m)
    assert v["C3"].text == (
        "holds only when distance >= receptive field (7)"
    )
    m["recall"] = {12: m["recall"][12], 48: m["recall"][48]}
    assert _by_claim(m)["C3"].text == "holds"


def test_nothing_faster_and_lstm_that_fails_to_train():
    m = _measurements()
    m["speed"] = {"inference, batch 1": {16: 0.5, 2048: 1.1}}
    m["digits"]["sequential"]["LSTM"] = [0.2, 0.3, 0.25]
    m["converged"]["LSTM"] = False
    m["memory"] = {"training": 1.5, "inference": 1.5, "streaming": 2.0}
    m["recall"] = {
        4: {"LSTM": CHANCE, "TCN": [0.5, 0.6, 0.5]},
        12: {"LSTM": CHANCE, "TCN": CHANCE},
    }
    v = _by_claim(m)
    assert v["T1"].text == "does not hold" and v["C2"].text == (
        "does not hold"
    )
    assert v["L4"].text == "holds"
    assert v["C4"].text == "does not hold"
    assert v["L1"].text == "does not hold"
    assert v["C3"].text == "does not hold"
    assert v["T3"].text == "holds"  # blind beyond, weak inside


def test_thresholds_are_the_stated_ones():
    assert THRESHOLDS["handles"] == 0.9 and THRESHOLDS["faster"] == 1.2


@pytest.mark.parametrize(
    "change, error",
    [
        (lambda m: m.pop("macs"), ValueError),
        (lambda m: m.update(chance="a"), TypeError),
        (
            lambda m: m["recall"][4].update(LSTM=[0.9, 0.9]),
            ValueError,
        ),
        (
            lambda m: m["recall"][4].update(LSTM=[1.5, 0.9, 0.9]),
            ValueError,
        ),
        (
            lambda m: m["digits"]["permuted"].update(
                TCN=[0.9, 0.9, 0.9, 0.9]
            ),
            ValueError,
        ),
        (lambda m: m["memory"].update(training=-1.0), ValueError),
        (
            lambda m: m["speed"].update({"inference, batch 1": {16: 0}}),
            ValueError,
        ),
        (lambda m: m.update(budget=""), ValueError),
        (lambda m: m["converged"].update(LSTM="yes"), TypeError),
        (lambda m: m.update(largest_gradient_norm=5.0), ValueError),
        (
            lambda m: m["variable_length"]["TCN"].update(
                batched_equals_alone="yes"
            ),
            TypeError,
        ),
        (
            lambda m: m.update(speed={"training": {64: 1.0}}),
            ValueError,
        ),
    ],
)
def test_bad_measurements_are_refused(change, error):
    m = copy.deepcopy(_measurements())
    change(m)
    with pytest.raises(error):
        claim_verdicts(m)


def test_refuses_a_non_dict():
    with pytest.raises(TypeError):
        claim_verdicts([1, 2])


def test_a_verdict_needs_a_scope_and_its_condition():
    with pytest.raises(ValueError):
        ClaimVerdict("L1", "s", "maybe", "", "scope", "e")
    with pytest.raises(ValueError):
        ClaimVerdict("L1", "s", "holds only when", "", "scope", "e")
    with pytest.raises(ValueError):
        ClaimVerdict("L1", "s", "holds", "x", "scope", "e")
    with pytest.raises(ValueError):
        ClaimVerdict("L1", "s", "holds", "", "", "e")


def test_t2_fails_when_batching_changes_the_tcn_outputs():
    m = _measurements()
    m["variable_length"]["TCN"]["batched_equals_alone"] = False
    v = _by_claim(m)
    assert v["T2"].text == "does not hold"
    assert "batched != alone" in v["T2"].evidence


def test_streaming_scope_counts_for_c2_but_not_for_t1():
    m = _measurements()
    m["speed"] = {
        "inference, batch 1": {16: 0.5, 2048: 0.8},
        "streaming, batch 1": {1: 2.0},
    }
    v = _by_claim(m)
    assert v["T1"].text == "does not hold"
    assert v["C2"].text == "holds only when streaming, batch 1"


def test_a_chapter_judges_only_its_own_claims():
    m = _measurements()
    cost = {k: m[k] for k in ("pooling_layers", "macs", "speed", "memory")}
    cost["setup"] = m["setup"]
    found = claim_verdicts(cost, claims=("C1", "L3", "T1", "C2", "C4"))
    assert [v.claim for v in found] == ["L3", "T1", "C1", "C2", "C4"]
    assert all(
        "10k parameters, 1 thread, cpu" in v.scope for v in found[1:2]
    )
    with pytest.raises(ValueError, match="lack"):
        claim_verdicts(cost, claims=("L1",))
    with pytest.raises(ValueError, match="claims must name"):
        claim_verdicts(cost, claims=("X9",))
