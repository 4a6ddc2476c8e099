"""Verdicts on the source article's claims about LSTMs and TCNs, computed
from measurements with thresholds fixed before anything is measured.

:func:`claim_verdicts` takes what chapter 2 measures (a plain dict, see
:data:`MEASUREMENT_KEYS`) and returns one :class:`ClaimVerdict` per claim
L1-L4, T1-T4, C1-C4: ``"holds"``, ``"holds only when ..."`` or ``"does
not hold"``, each with the scope it was measured in (batch size, length,
training or inference, budget) and the evidence it rests on. The
chapter's verdict table is rendered from this list, so a re-run that
measures something else changes the table instead of contradicting it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from .comparison import paired_difference, verdict

__all__ = [
    "THRESHOLDS",
    "VERDICTS",
    "MEASUREMENT_KEYS",
    "ClaimVerdict",
    "claim_verdicts",
]

THRESHOLDS = {
    "same_arithmetic": 0.15,
    "faster": 1.2,
    "handles": 0.9,
    "chance_margin": 0.05,
    "vanishing": 1e-3,
    "exploding": 100.0,
    "less_memory": 0.9,
    "equivalence": 0.01,
    "converged_gain": 0.02,
}
"""Fixed before measuring:

- ``same_arithmetic``: multiply-adds per step within ±15 % count as the
  same cost;
- ``faster``: one model is faster in a scope when the other takes at
  least 1.2 times its time there (at the longest length measured);
- ``handles``: a model handles a dependency when its test accuracy is at
  least 90 % on every seed; ``chance_margin``: it is blind to it when its
  mean accuracy is within 5 points of chance;
- ``vanishing``: a gradient vanishes when the first step's input gradient
  is below 1e-3 of the last step's; ``exploding``: a gradient norm above
  100 explodes;
- ``less_memory``: a model needs less memory when it needs at most 0.9
  times the other's;
- ``equivalence``: accuracy differences within ±1 point are equivalent
  (:func:`kd_lib.comparison.verdict`);
- ``converged_gain``: a run has converged when the best validation
  accuracy of its last 10 epochs beats the best before them by less than
  2 points (the caller checks this and passes ``converged``).
"""

VERDICTS = ("holds", "holds only when", "does not hold")

MEASUREMENT_KEYS = {
    "pooling_layers": "pooling layers in the generic TCN (int)",
    "macs": "multiply-adds per step, {'LSTM': int, 'TCN': int}",
    "speed": (
        "LSTM time / TCN time: {scope: {length: ratio}}, scopes such as "
        "'inference, batch 1', 'inference, batch 64', "
        "'training, batch 32', 'streaming, batch 1' (one length)"
    ),
    "memory": (
        "TCN / LSTM memory: {'training': ratio, 'inference': ratio, "
        "'streaming': ratio}"
    ),
    "receptive_field": "the recall TCN's receptive field (int)",
    "recall": (
        "{distance: {'LSTM': [accuracy per seed], 'TCN': [...]}}, "
        "tuned and converged"
    ),
    "chance": "chance accuracy of the recall task (float)",
    "digits": (
        "{task: {'LSTM': [accuracy per seed], 'TCN': [...]}}, same seeds"
    ),
    "gradient": (
        "first-over-last input gradient at initialisation, "
        "{'LSTM': float, 'TCN': float}"
    ),
    "largest_gradient_norm": (
        "largest gradient norm in training without clipping, "
        "{'LSTM': float, 'TCN': float}"
    ),
    "converged": (
        "whether the tuned runs converged (curves flat at the end), "
        "{'LSTM': bool, 'TCN': bool}"
    ),
    "variable_length": (
        "{'LSTM': {'batched_equals_alone': bool, 'batched': acc, "
        "'right_pad': acc}, 'TCN': {...}}"
    ),
    "budget": "training budget of the accuracy runs, in words (str)",
}
"""What :func:`claim_verdicts` needs, key by key."""


@dataclass(frozen=True)
class ClaimVerdict:
    """One claim's verdict, its condition, its scope and its evidence."""

    claim: str
    statement: str
    verdict: str
    condition: str
    scope: str
    evidence: str

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(
                f"verdict must be one of {VERDICTS}, got {self.verdict!r}"
            )
        if (self.verdict == "holds only when") != bool(self.condition):
            raise ValueError(
                "a condition goes with 'holds only when', and only with it"
            )
        if not self.scope:
            raise ValueError("every verdict needs a scope")

    @property
    def text(self) -> str:
        """``"holds only when packed"``, ``"holds"``, ...."""
        if self.condition:
            return f"{self.verdict} {self.condition}"
        return self.verdict

    def row(self) -> list[str]:
        return [
            f"{self.claim} {self.statement}",
            self.text,
            self.scope,
            self.evidence,
        ]


# ------------------------------------------------------------ input checks


def _number(value, name: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        kind = "a positive" if positive else "a finite"
        raise ValueError(f"{name} must be {kind} number, got {value}")
    return value


def _accuracies(values, name: str) -> list[float]:
    if not isinstance(values, (list, tuple)) or len(values) < 3:
        raise ValueError(
            f"{name} must hold one accuracy per seed, at least 3, got "
            f"{values!r}"
        )
    out = [_number(v, name) for v in values]
    if not all(0 <= v <= 1 for v in out):
        raise ValueError(f"{name} must be fractions in [0, 1], got {out}")
    return out


def _pair(entry, name: str) -> dict[str, list[float]]:
    if not isinstance(entry, dict) or set(entry) != {"LSTM", "TCN"}:
        raise ValueError(f"{name} must be a dict with 'LSTM' and 'TCN'")
    pair = {k: _accuracies(v, f"{name}[{k!r}]") for k, v in entry.items()}
    if len(pair["LSTM"]) != len(pair["TCN"]):
        raise ValueError(f"{name}: both models need the same seeds")
    return pair


def _check(m: dict) -> None:
    if not isinstance(m, dict):
        raise TypeError(
            f"measurements must be a dict, got {type(m).__name__}"
        )
    missing = sorted(set(MEASUREMENT_KEYS) - set(m))
    if missing:
        raise ValueError(f"measurements lack {missing}")
    for key in ("speed", "memory", "recall", "digits", "variable_length"):
        if not isinstance(m[key], dict) or not m[key]:
            raise ValueError(f"measurements[{key!r}] must be a dict")
    for scope, by_length in m["speed"].items():
        if not isinstance(by_length, dict) or not by_length:
            raise ValueError(f"speed[{scope!r}] must map lengths to ratios")
        for r in by_length.values():
            _number(r, f"speed[{scope!r}] ratio", positive=True)
    for k in ("training", "inference", "streaming"):
        _number(m["memory"].get(k), f"memory[{k!r}]", positive=True)
    if not isinstance(m["budget"], str) or not m["budget"]:
        raise ValueError("budget must be a non-empty string")


# ---------------------------------------------------------------- verdicts


def _mean(values) -> float:
    return statistics.fmean(values)


def _percent(values) -> str:
    return f"{100 * _mean(values):.0f}%"


def _faster_scopes(speed: dict, faster: float, tcn: bool) -> list[str]:
    """Scopes where one model is faster at the longest length, with the
    shortest length from which it stays so."""
    found = []
    for scope, by_length in speed.items():
        lengths = sorted(by_length)
        ratios = [float(by_length[n]) for n in lengths]
        if not tcn:
            ratios = [1 / r for r in ratios]
        if ratios[-1] < faster:
            continue
        start = lengths[-1]
        for n, r in zip(reversed(lengths), reversed(ratios)):
            if r <= 1:
                break
            start = n
        found.append(
            scope
            if len(lengths) == 1 or start == lengths[0]
            else f"{scope}, T >= {start}"
        )
    return found


def _speed_evidence(speed: dict) -> str:
    parts = []
    for scope, by_length in speed.items():
        longest = max(by_length)
        parts.append(f"{scope}: x{float(by_length[longest]):.2f}")
    return "LSTM/TCN time, longest T; " + "; ".join(parts)


def claim_verdicts(
    measurements: dict, thresholds: dict | None = None
) -> list[ClaimVerdict]:
    """One verdict per claim, L1-L4, T1-T4, C1-C4, from ``measurements``
    (see :data:`MEASUREMENT_KEYS`) and :data:`THRESHOLDS` (or
    ``thresholds``, which must name the same keys).

    Raises ``TypeError``/``ValueError`` for missing keys, non-numbers,
    accuracies outside [0, 1], fewer than three seeds or unequal seeds.
    """
    m = measurements
    _check(m)
    th = dict(THRESHOLDS)
    if thresholds is not None:
        if not isinstance(thresholds, dict) or set(thresholds) - set(th):
            raise ValueError(f"thresholds may only set {sorted(th)}")
        th.update(thresholds)
    chance = _number(m["chance"], "chance")
    rf = int(_number(m["receptive_field"], "receptive_field", True))
    recall = {
        int(d): _pair(v, f"recall[{d}]") for d, v in m["recall"].items()
    }
    digits = {t: _pair(v, f"digits[{t!r}]") for t, v in m["digits"].items()}
    budget = m["budget"]
    out = []

    def add(claim, statement, result, condition, scope, evidence):
        out.append(
            ClaimVerdict(
                claim, statement, result, condition, scope, evidence
            )
        )

    def handles(values):
        return min(values) >= th["handles"]

    def blind(values):
        return abs(_mean(values) - chance) <= th["chance_margin"]

    distances = sorted(recall)
    recall_scope = (
        f"recall, distances {distances[0]}-{distances[-1]}, {budget}"
    )
    recall_evidence = "; ".join(
        f"d={d}: LSTM {_percent(recall[d]['LSTM'])}, "
        f"TCN {_percent(recall[d]['TCN'])}"
        for d in distances
    )

    # L1: the LSTM handles long-term dependencies
    lstm_ok = [d for d in distances if handles(recall[d]["LSTM"])]
    if lstm_ok == distances:
        add(
            "L1",
            "LSTM handles long dependencies",
            "holds",
            "",
            recall_scope,
            recall_evidence,
        )
    elif lstm_ok:
        add(
            "L1",
            "LSTM handles long dependencies",
            "holds only when",
            f"distance <= {max(lstm_ok)}",
            recall_scope,
            recall_evidence,
        )
    else:
        add(
            "L1",
            "LSTM handles long dependencies",
            "does not hold",
            "",
            recall_scope,
            recall_evidence,
        )

    # L2 / T2 (variable length): batched correctly = run alone
    var = m["variable_length"]
    how = {"LSTM": "packed or masked", "TCN": "left-padded or masked"}
    for claim, name in (("L2", "LSTM"), ("T2", "TCN")):
        entry = var.get(name)
        if not isinstance(entry, dict) or set(entry) != {
            "batched_equals_alone",
            "batched",
            "right_pad",
        }:
            raise ValueError(
                f"variable_length[{name!r}] must be a dict with "
                "batched_equals_alone, batched and right_pad"
            )
        exact = entry["batched_equals_alone"]
        if not isinstance(exact, bool):
            raise TypeError("batched_equals_alone must be a bool")
        right = _number(entry["right_pad"], "right_pad accuracy")
        batched = _number(entry["batched"], "batched accuracy")
        evidence = (
            f"{'batched = alone' if exact else 'batched != alone'}; "
            f"right pad {100 * right:.0f}% vs {100 * batched:.0f}%"
        )
        scope = "mixed lengths, inference"
        if claim == "T2":
            # T2 also claims the TCN beats the LSTM on some tasks
            wins = []
            for task, pair in digits.items():
                d = paired_difference(pair["LSTM"], pair["TCN"])
                if verdict(d, th["equivalence"]) == "better":
                    wins.append(task)
            gaps = "; ".join(
                f"{t} TCN-LSTM "
                f"{100 * (_mean(p['TCN']) - _mean(p['LSTM'])):+.1f} pts"
                for t, p in digits.items()
            )
            evidence = f"{evidence}; {gaps}"
            scope = f"{scope}; digits, {budget}"
            if not exact:
                add(
                    claim,
                    "TCN: variable length, can beat LSTM",
                    "does not hold",
                    "",
                    scope,
                    evidence,
                )
            elif wins:
                add(
                    claim,
                    "TCN: variable length, can beat LSTM",
                    "holds only when",
                    f"{how[name]}; wins on " + ", ".join(wins),
                    scope,
                    evidence,
                )
            else:
                add(
                    claim,
                    "TCN: variable length, can beat LSTM",
                    "holds only when",
                    f"{how[name]}; no win",
                    scope,
                    evidence,
                )
            continue
        if exact:
            add(
                claim,
                "LSTM handles variable length",
                "holds only when",
                how[name],
                scope,
                evidence,
            )
        else:
            add(
                claim,
                "LSTM handles variable length",
                "does not hold",
                "",
                scope,
                evidence,
            )

    # L3: the LSTM costs more (arithmetic, per step)
    macs = m["macs"]
    mac_ratio = _number(macs["LSTM"], "macs") / _number(
        macs["TCN"], "macs", positive=True
    )
    same = abs(mac_ratio - 1) <= th["same_arithmetic"]
    add(
        "L3",
        "LSTM is costly",
        "does not hold" if same or mac_ratio < 1 else "holds",
        "",
        "multiply-adds per step, equal parameters",
        f"{macs['LSTM']} vs {macs['TCN']} per step",
    )

    # L4 / T4: gradients vanish or explode (so training may not converge)
    grad, largest, converged = (
        m["gradient"],
        m["largest_gradient_norm"],
        m["converged"],
    )
    for key, entry in (
        ("gradient", grad),
        ("largest_gradient_norm", largest),
        ("converged", converged),
    ):
        if not isinstance(entry, dict) or set(entry) != {"LSTM", "TCN"}:
            raise ValueError(f"{key} must be a dict with 'LSTM' and 'TCN'")
    for name in ("LSTM", "TCN"):
        if not isinstance(converged[name], bool):
            raise TypeError(f"converged[{name!r}] must be a bool")
    first = {n: _number(grad[n], f"gradient[{n!r}]", True) for n in grad}
    norm = {
        n: _number(largest[n], f"largest_gradient_norm[{n!r}]", True)
        for n in largest
    }
    for claim, name in (("L4", "LSTM"), ("T4", "TCN")):
        statement = f"{name} gradients vanish/explode"
        evidence = (
            f"step 0/last at init {first[name]:.0e}; largest norm "
            f"{norm[name]:.1f}; "
            + ("converged" if converged[name] else "did not converge")
        )
        scope = f"digits, 64 steps, {budget}"
        troubled = (
            first[name] < th["vanishing"] or norm[name] > th["exploding"]
        )
        if troubled and converged[name]:
            add(
                claim,
                statement,
                "holds only when",
                "untrained (at init); tuned, it converges",
                scope,
                evidence,
            )
        elif troubled:
            add(claim, statement, "holds", "", scope, evidence)
        else:
            add(claim, statement, "does not hold", "", scope, evidence)

    # T1: the TCN costs less (wall time, inference scopes)
    inference = {
        s: v for s, v in m["speed"].items() if s.startswith("inference")
    }
    if not inference:
        raise ValueError("speed needs at least one 'inference' scope")
    tcn_faster = _faster_scopes(inference, th["faster"], tcn=True)
    # "inference, batch 1" -> "batch 1": the scope names each batch once
    batches = [s.split(", ", 1)[-1] for s in inference]
    scope = "inference time, " + ", ".join(batches) + "; equal size"
    if (
        tcn_faster
        and len(tcn_faster) == len(inference)
        and all("T >=" not in s for s in tcn_faster)
    ):
        add(
            "T1",
            "TCN costs less",
            "holds",
            "",
            scope,
            _speed_evidence(inference),
        )
    elif tcn_faster:
        add(
            "T1",
            "TCN costs less",
            "holds only when",
            " or ".join(tcn_faster),
            scope,
            _speed_evidence(inference),
        )
    else:
        add(
            "T1",
            "TCN costs less",
            "does not hold",
            "",
            scope,
            _speed_evidence(inference),
        )

    # T3: the TCN cannot handle long dependencies
    inside = [d for d in distances if d < rf]
    outside = [d for d in distances if d >= rf]
    tcn_blind = [d for d in outside if blind(recall[d]["TCN"])]
    tcn_sees = [d for d in inside if handles(recall[d]["TCN"])]
    if outside and tcn_blind == outside and tcn_sees == inside:
        add(
            "T3",
            "TCN cannot handle long dependencies",
            "holds only when",
            f"distance >= receptive field ({rf})",
            recall_scope,
            recall_evidence,
        )
    elif outside and tcn_blind == outside:
        add(
            "T3",
            "TCN cannot handle long dependencies",
            "holds",
            "",
            recall_scope,
            recall_evidence,
        )
    else:
        add(
            "T3",
            "TCN cannot handle long dependencies",
            "does not hold",
            "",
            recall_scope,
            recall_evidence,
        )

    # C1: TCN = convolutions and pooling
    pooling = int(_number(m["pooling_layers"], "pooling_layers"))
    add(
        "C1",
        "TCN = convolutions + pooling",
        "holds" if pooling else "does not hold",
        "",
        "generic TCN (Bai et al.); encoder-decoder TCNs do pool",
        f"{pooling} pooling layers",
    )

    # C2: parallel, so faster in training and inference
    tcn_faster = _faster_scopes(m["speed"], th["faster"], tcn=True)
    scope = ", ".join(m["speed"]) + "; equal size"
    evidence = _speed_evidence(m["speed"])
    if len(tcn_faster) == len(m["speed"]) and all(
        "T >=" not in s for s in tcn_faster
    ):
        add("C2", "TCN parallel, so faster", "holds", "", scope, evidence)
    elif tcn_faster:
        add(
            "C2",
            "TCN parallel, so faster",
            "holds only when",
            " or ".join(tcn_faster),
            scope,
            evidence,
        )
    else:
        add(
            "C2",
            "TCN parallel, so faster",
            "does not hold",
            "",
            scope,
            evidence,
        )

    # C3: the LSTM handles long dependencies where the TCN cannot: holds
    # at the distances where the LSTM handles it and the TCN is blind
    split = [
        d
        for d in distances
        if handles(recall[d]["LSTM"]) and blind(recall[d]["TCN"])
    ]
    if split and split == distances:
        result, condition = "holds", ""
    elif split and split == outside:
        result = "holds only when"
        condition = f"distance >= receptive field ({rf})"
    elif split:
        result = "holds only when"
        condition = "distance " + ", ".join(str(d) for d in split)
    else:
        result, condition = "does not hold", ""
    add(
        "C3",
        "LSTM long-term, TCN local",
        result,
        condition,
        recall_scope,
        recall_evidence,
    )

    # C4: the TCN needs less memory
    memory = m["memory"]
    less = [k for k, r in memory.items() if r <= th["less_memory"]]
    evidence = "TCN/LSTM " + ", ".join(
        f"{k} x{float(r):.2f}" for k, r in memory.items()
    )
    scope = "training step, inference, streaming state"
    if len(less) == len(memory):
        add("C4", "TCN needs less memory", "holds", "", scope, evidence)
    elif less:
        add(
            "C4",
            "TCN needs less memory",
            "holds only when",
            " or ".join(less),
            scope,
            evidence,
        )
    else:
        add(
            "C4",
            "TCN needs less memory",
            "does not hold",
            "",
            scope,
            evidence,
        )

    order = [f"{p}{i}" for p in "LTC" for i in range(1, 5)]
    return sorted(out, key=lambda v: order.index(v.claim))
