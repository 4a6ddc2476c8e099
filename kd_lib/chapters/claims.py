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

from ..comparison import paired_difference, verdict

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


def _verdict(claim, statement, result, scope, evidence, condition=""):
    """A :class:`ClaimVerdict`; ``result`` ``"holds only when"`` takes a
    ``condition``."""
    return ClaimVerdict(
        claim, statement, result, condition, scope, evidence
    )


class _Evidence:
    """The checked measurements and thresholds the rules below read."""

    def __init__(self, m: dict, th: dict):
        _check(m)
        self.m, self.th = m, th
        self.chance = _number(m["chance"], "chance")
        self.rf = int(
            _number(m["receptive_field"], "receptive_field", True)
        )
        self.recall = {
            int(d): _pair(v, f"recall[{d}]") for d, v in m["recall"].items()
        }
        self.digits = {
            t: _pair(v, f"digits[{t!r}]") for t, v in m["digits"].items()
        }
        self.budget = m["budget"]
        self.distances = sorted(self.recall)
        d = self.distances
        self.recall_scope = (
            f"recall, distances {d[0]}-{d[-1]}, {self.budget}"
        )
        self.recall_evidence = "; ".join(
            f"d={k}: LSTM {_percent(self.recall[k]['LSTM'])}, "
            f"TCN {_percent(self.recall[k]['TCN'])}"
            for k in d
        )
        self.outside = [k for k in d if k >= self.rf]

    def handles(self, values) -> bool:
        return min(values) >= self.th["handles"]

    def blind(self, values) -> bool:
        return abs(_mean(values) - self.chance) <= self.th["chance_margin"]


def _l1_lstm_long(e: _Evidence) -> ClaimVerdict:
    """L1: the LSTM handles long-term dependencies."""
    ok = [d for d in e.distances if e.handles(e.recall[d]["LSTM"])]
    args = ("L1", "LSTM handles long dependencies")
    if ok == e.distances:
        return _verdict(*args, "holds", e.recall_scope, e.recall_evidence)
    if ok:
        return _verdict(
            *args,
            "holds only when",
            e.recall_scope,
            e.recall_evidence,
            f"distance <= {max(ok)}",
        )
    return _verdict(
        *args, "does not hold", e.recall_scope, e.recall_evidence
    )


def _variable_length_entry(var: dict, name: str):
    """``(batched equals alone, evidence)`` of one model's
    variable-length measurement."""
    entry = var.get(name)
    keys = {"batched_equals_alone", "batched", "right_pad"}
    if not isinstance(entry, dict) or set(entry) != keys:
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
    return exact, evidence


def _l2_lstm_variable_length(e: _Evidence) -> ClaimVerdict:
    """L2: the LSTM handles variable-length sequences."""
    exact, evidence = _variable_length_entry(e.m["variable_length"], "LSTM")
    args = ("L2", "LSTM handles variable length")
    scope = "mixed lengths, inference"
    if exact:
        return _verdict(
            *args, "holds only when", scope, evidence, "packed or masked"
        )
    return _verdict(*args, "does not hold", scope, evidence)


def _t2_tcn_variable_length(e: _Evidence) -> ClaimVerdict:
    """T2: the TCN handles variable length, and beats the LSTM on some
    tasks."""
    exact, evidence = _variable_length_entry(e.m["variable_length"], "TCN")
    wins = [
        task
        for task, pair in e.digits.items()
        if verdict(
            paired_difference(pair["LSTM"], pair["TCN"]),
            e.th["equivalence"],
        )
        == "better"
    ]
    gaps = "; ".join(
        f"{t} TCN-LSTM "
        f"{100 * (_mean(p['TCN']) - _mean(p['LSTM'])):+.1f} pts"
        for t, p in e.digits.items()
    )
    evidence = f"{evidence}; {gaps}"
    scope = f"mixed lengths, inference; digits, {e.budget}"
    args = ("T2", "TCN: variable length, can beat LSTM")
    if not exact:
        return _verdict(*args, "does not hold", scope, evidence)
    won = "wins on " + ", ".join(wins) if wins else "no win"
    return _verdict(
        *args,
        "holds only when",
        scope,
        evidence,
        f"left-padded or masked; {won}",
    )


def _l3_lstm_costly(e: _Evidence) -> ClaimVerdict:
    """L3: the LSTM costs more arithmetic per step."""
    macs = e.m["macs"]
    ratio = _number(macs["LSTM"], "macs") / _number(
        macs["TCN"], "macs", positive=True
    )
    same = abs(ratio - 1) <= e.th["same_arithmetic"]
    return _verdict(
        "L3",
        "LSTM is costly",
        "does not hold" if same or ratio < 1 else "holds",
        "multiply-adds per step, equal parameters",
        f"{macs['LSTM']} vs {macs['TCN']} per step",
    )


def _gradient_verdicts(e: _Evidence) -> list[ClaimVerdict]:
    """L4 and T4: gradients vanish or explode, so training may not
    converge."""
    m = e.m
    for key in ("gradient", "largest_gradient_norm", "converged"):
        entry = m[key]
        if not isinstance(entry, dict) or set(entry) != {"LSTM", "TCN"}:
            raise ValueError(f"{key} must be a dict with 'LSTM' and 'TCN'")
    for name in ("LSTM", "TCN"):
        if not isinstance(m["converged"][name], bool):
            raise TypeError(f"converged[{name!r}] must be a bool")
    out = []
    for claim, name in (("L4", "LSTM"), ("T4", "TCN")):
        first = _number(m["gradient"][name], f"gradient[{name!r}]", True)
        norm = _number(
            m["largest_gradient_norm"][name],
            f"largest_gradient_norm[{name!r}]",
            True,
        )
        converged = m["converged"][name]
        evidence = (
            f"step 0/last at init {first:.0e}; largest norm {norm:.1f}; "
            + ("converged" if converged else "did not converge")
        )
        args = (claim, f"{name} gradients vanish/explode")
        scope = f"digits, 64 steps, {e.budget}"
        troubled = first < e.th["vanishing"] or norm > e.th["exploding"]
        if troubled and converged:
            out.append(
                _verdict(
                    *args,
                    "holds only when",
                    scope,
                    evidence,
                    "untrained (at init); tuned, it converges",
                )
            )
        else:
            result = "holds" if troubled else "does not hold"
            out.append(_verdict(*args, result, scope, evidence))
    return out


def _speed_verdict(claim, statement, speed, scope, faster) -> ClaimVerdict:
    """Holds where the TCN is faster in every scope at every length,
    holds only when in some scopes (or from some length on)."""
    scopes = _faster_scopes(speed, faster, tcn=True)
    evidence = _speed_evidence(speed)
    if len(scopes) == len(speed) and all("T >=" not in s for s in scopes):
        return _verdict(claim, statement, "holds", scope, evidence)
    if scopes:
        return _verdict(
            claim,
            statement,
            "holds only when",
            scope,
            evidence,
            " or ".join(scopes),
        )
    return _verdict(claim, statement, "does not hold", scope, evidence)


def _t1_tcn_cheaper(e: _Evidence) -> ClaimVerdict:
    """T1: the TCN costs less (wall time, inference scopes)."""
    inference = {
        s: v for s, v in e.m["speed"].items() if s.startswith("inference")
    }
    if not inference:
        raise ValueError("speed needs at least one 'inference' scope")
    # "inference, batch 1" -> "batch 1": the scope names each batch once
    batches = [s.split(", ", 1)[-1] for s in inference]
    scope = "inference time, " + ", ".join(batches) + "; equal size"
    return _speed_verdict(
        "T1", "TCN costs less", inference, scope, e.th["faster"]
    )


def _t3_tcn_short(e: _Evidence) -> ClaimVerdict:
    """T3: the TCN cannot handle long-term dependencies."""
    inside = [d for d in e.distances if d < e.rf]
    blind = [d for d in e.outside if e.blind(e.recall[d]["TCN"])]
    sees = [d for d in inside if e.handles(e.recall[d]["TCN"])]
    args = ("T3", "TCN cannot handle long dependencies")
    if e.outside and blind == e.outside and sees == inside:
        return _verdict(
            *args,
            "holds only when",
            e.recall_scope,
            e.recall_evidence,
            f"distance >= receptive field ({e.rf})",
        )
    result = (
        "holds" if e.outside and blind == e.outside else "does not hold"
    )
    return _verdict(*args, result, e.recall_scope, e.recall_evidence)


def _c1_pooling(e: _Evidence) -> ClaimVerdict:
    """C1: a TCN is convolutions and pooling."""
    pooling = int(_number(e.m["pooling_layers"], "pooling_layers"))
    return _verdict(
        "C1",
        "TCN = convolutions + pooling",
        "holds" if pooling else "does not hold",
        "generic TCN (Bai et al.); encoder-decoder TCNs do pool",
        f"{pooling} pooling layers",
    )


def _c2_parallel(e: _Evidence) -> ClaimVerdict:
    """C2: parallel over time, so faster in training and inference."""
    speed = e.m["speed"]
    scope = ", ".join(speed) + "; equal size"
    return _speed_verdict(
        "C2", "TCN parallel, so faster", speed, scope, e.th["faster"]
    )


def _c3_long_versus_local(e: _Evidence) -> ClaimVerdict:
    """C3: the LSTM handles long dependencies where the TCN cannot: holds
    at the distances where the LSTM handles it and the TCN is blind."""
    split = [
        d
        for d in e.distances
        if e.handles(e.recall[d]["LSTM"]) and e.blind(e.recall[d]["TCN"])
    ]
    condition = ""
    if split and split == e.distances:
        result = "holds"
    elif split and split == e.outside:
        result = "holds only when"
        condition = f"distance >= receptive field ({e.rf})"
    elif split:
        result = "holds only when"
        condition = "distance " + ", ".join(str(d) for d in split)
    else:
        result = "does not hold"
    return _verdict(
        "C3",
        "LSTM long-term, TCN local",
        result,
        e.recall_scope,
        e.recall_evidence,
        condition,
    )


def _c4_memory(e: _Evidence) -> ClaimVerdict:
    """C4: the TCN needs less memory."""
    memory = e.m["memory"]
    less = [k for k, r in memory.items() if r <= e.th["less_memory"]]
    evidence = "TCN/LSTM " + ", ".join(
        f"{k} x{float(r):.2f}" for k, r in memory.items()
    )
    args = ("C4", "TCN needs less memory")
    scope = "training step, inference, streaming state"
    if len(less) == len(memory):
        return _verdict(*args, "holds", scope, evidence)
    if less:
        return _verdict(
            *args, "holds only when", scope, evidence, " or ".join(less)
        )
    return _verdict(*args, "does not hold", scope, evidence)


RULES = (
    _l1_lstm_long,
    _l2_lstm_variable_length,
    _l3_lstm_costly,
    _gradient_verdicts,
    _t1_tcn_cheaper,
    _t2_tcn_variable_length,
    _t3_tcn_short,
    _c1_pooling,
    _c2_parallel,
    _c3_long_versus_local,
    _c4_memory,
)
"""One rule per claim (L4 and T4 share theirs), each a small function of
the measurements and thresholds."""


def claim_verdicts(
    measurements: dict, thresholds: dict | None = None
) -> list[ClaimVerdict]:
    """One verdict per claim, L1-L4, T1-T4, C1-C4, from ``measurements``
    (see :data:`MEASUREMENT_KEYS`) and :data:`THRESHOLDS` (or
    ``thresholds``, which must name the same keys), by the :data:`RULES`.

    Raises ``TypeError``/``ValueError`` for missing keys, non-numbers,
    accuracies outside [0, 1], fewer than three seeds or unequal seeds.
    """
    th = dict(THRESHOLDS)
    if thresholds is not None:
        if not isinstance(thresholds, dict) or set(thresholds) - set(th):
            raise ValueError(f"thresholds may only set {sorted(th)}")
        th.update(thresholds)
    evidence = _Evidence(measurements, th)
    out = []
    for rule in RULES:
        found = rule(evidence)
        out.extend(found if isinstance(found, list) else [found])
    order = [f"{p}{i}" for p in "LTC" for i in range(1, 5)]
    return sorted(out, key=lambda v: order.index(v.claim))
