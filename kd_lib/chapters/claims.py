"""Verdicts on the source article's claims about LSTMs and TCNs, computed
from measurements with thresholds fixed before anything is measured.

:func:`claim_verdicts` takes what a chapter measures (a plain dict, see
:data:`MEASUREMENT_KEYS`) and returns one :class:`ClaimVerdict` for each
claim it names (L1-L4, T1-T4, C1-C4): ``"holds"``, ``"holds only when
..."`` or ``"does not hold"``, each with the scope it was measured in
(model size, threads and device, batch size, length, training or
inference, budget) and the evidence it rests on. Chapter 2 judges the
claims about cost, chapter 3 those about training and variable length,
chapter 4 those about long-range dependency; each renders its table from
this list, so a re-run that measures something else changes the table
instead of contradicting it.
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
    "NEEDS",
    "CLAIMS",
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
        "at initialisation, where each model's chain is long: the LSTM's "
        "input gradient at the first step over the last (through time), "
        "the TCN's gradient norm at its first block over its last "
        "(through depth), {'LSTM': float, 'TCN': float}"
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
    "setup": "model sizes, threads and device of the timings (str)",
}
"""What :func:`claim_verdicts` can use, key by key."""

NEEDS = {
    "L1": ("recall", "chance", "receptive_field", "budget"),
    "L2": ("variable_length",),
    "L3": ("macs",),
    "L4": ("gradient", "largest_gradient_norm", "converged", "budget"),
    "T1": ("speed", "setup"),
    "T2": ("variable_length", "digits", "budget"),
    "T3": ("recall", "chance", "receptive_field", "budget"),
    "T4": ("gradient", "largest_gradient_norm", "converged", "budget"),
    "C1": ("pooling_layers",),
    "C2": ("speed", "setup"),
    "C3": ("recall", "chance", "receptive_field", "budget"),
    "C4": ("memory", "setup"),
}
"""The measurements each claim's verdict rests on."""


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


def _checked(m: dict, key: str):
    """Measurement ``key``, checked for its kind."""
    value = m[key]
    if key in ("speed", "memory", "recall", "digits", "variable_length"):
        if not isinstance(value, dict) or not value:
            raise ValueError(f"measurements[{key!r}] must be a dict")
    if key == "speed":
        for scope, by_length in value.items():
            if not isinstance(by_length, dict) or not by_length:
                raise ValueError(
                    f"speed[{scope!r}] must map lengths to ratios"
                )
            for r in by_length.values():
                _number(r, f"speed[{scope!r}] ratio", positive=True)
    if key == "memory":
        for k, r in value.items():
            _number(r, f"memory[{k!r}]", positive=True)
    if key in ("budget", "setup") and (
        not isinstance(value, str) or not value
    ):
        raise ValueError(f"{key} must be a non-empty string")
    return value


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
    """The measurements and thresholds the rules below read, each checked
    when a rule first asks for it."""

    def __init__(self, m: dict, th: dict):
        self.m, self.th = m, th

    def __getitem__(self, key: str):
        return _checked(self.m, key)

    @property
    def recall(self) -> dict[int, dict[str, list[float]]]:
        return {
            int(d): _pair(v, f"recall[{d}]")
            for d, v in self["recall"].items()
        }

    @property
    def digits(self) -> dict[str, dict[str, list[float]]]:
        return {
            t: _pair(v, f"digits[{t!r}]") for t, v in self["digits"].items()
        }

    @property
    def chance(self) -> float:
        return _number(self["chance"], "chance")

    @property
    def rf(self) -> int:
        return int(
            _number(self["receptive_field"], "receptive_field", True)
        )

    @property
    def distances(self) -> list[int]:
        return sorted(self.recall)

    @property
    def outside(self) -> list[int]:
        return [d for d in self.distances if d >= self.rf]

    @property
    def recall_scope(self) -> str:
        d = self.distances
        return f"recall, distances {d[0]}-{d[-1]}, {self['budget']}"

    @property
    def recall_evidence(self) -> str:
        recall = self.recall
        return "; ".join(
            f"d={k}: LSTM {_percent(recall[k]['LSTM'])}, "
            f"TCN {_percent(recall[k]['TCN'])}"
            for k in self.distances
        )

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
    exact, evidence = _variable_length_entry(e["variable_length"], "LSTM")
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
    exact, evidence = _variable_length_entry(e["variable_length"], "TCN")
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
    scope = f"mixed lengths, inference; digits, {e['budget']}"
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
    macs = e["macs"]
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
    converge. Each model is judged where its chain of operations is long:
    the LSTM through time, the TCN through depth."""
    entries = {k: e[k] for k in ("gradient", "largest_gradient_norm")}
    entries["converged"] = e["converged"]
    for key, entry in entries.items():
        if not isinstance(entry, dict) or set(entry) != {"LSTM", "TCN"}:
            raise ValueError(f"{key} must be a dict with 'LSTM' and 'TCN'")
    where = {"LSTM": "step 0/last", "TCN": "first/last block"}
    out = []
    for claim, name in (("L4", "LSTM"), ("T4", "TCN")):
        converged = entries["converged"][name]
        if not isinstance(converged, bool):
            raise TypeError(f"converged[{name!r}] must be a bool")
        first = _number(
            entries["gradient"][name], f"gradient[{name!r}]", True
        )
        norm = _number(
            entries["largest_gradient_norm"][name],
            f"largest_gradient_norm[{name!r}]",
            True,
        )
        evidence = (
            f"{where[name]} at init {first:.0e}; largest norm {norm:.1f}; "
            + ("converged" if converged else "did not converge")
        )
        args = (claim, f"{name} gradients vanish/explode")
        scope = f"digits, 64 steps, {e['budget']}"
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
        s: v for s, v in e["speed"].items() if s.startswith("inference")
    }
    if not inference:
        raise ValueError("speed needs at least one 'inference' scope")
    # "inference, batch 1" -> "batch 1": the scope names each batch once
    batches = [s.split(", ", 1)[-1] for s in inference]
    scope = "inference time, " + "; ".join(batches) + f"; {e['setup']}"
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
    pooling = int(_number(e["pooling_layers"], "pooling_layers"))
    return _verdict(
        "C1",
        "TCN = convolutions + pooling",
        "holds" if pooling else "does not hold",
        "generic TCN (Bai et al.); encoder-decoder TCNs do pool",
        f"{pooling} pooling layers",
    )


def _c2_parallel(e: _Evidence) -> ClaimVerdict:
    """C2: parallel over time, so faster in training and inference."""
    speed = e["speed"]
    scope = "; ".join(speed) + f"; {e['setup']}"
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
    memory = e["memory"]
    less = [k for k, r in memory.items() if r <= e.th["less_memory"]]
    evidence = "TCN/LSTM " + ", ".join(
        f"{k} x{float(r):.2f}" for k, r in memory.items()
    )
    args = ("C4", "TCN needs less memory")
    scope = "training step, inference, streaming state; " + e["setup"]
    if len(less) == len(memory):
        return _verdict(*args, "holds", scope, evidence)
    if less:
        return _verdict(
            *args, "holds only when", scope, evidence, " or ".join(less)
        )
    return _verdict(*args, "does not hold", scope, evidence)


RULES = {
    "L1": _l1_lstm_long,
    "L2": _l2_lstm_variable_length,
    "L3": _l3_lstm_costly,
    "L4": _gradient_verdicts,
    "T1": _t1_tcn_cheaper,
    "T2": _t2_tcn_variable_length,
    "T3": _t3_tcn_short,
    "T4": _gradient_verdicts,
    "C1": _c1_pooling,
    "C2": _c2_parallel,
    "C3": _c3_long_versus_local,
    "C4": _c4_memory,
}
"""One rule per claim (L4 and T4 share theirs), each a small function of
the measurements and thresholds."""

CLAIMS = tuple(RULES)


def claim_verdicts(
    measurements: dict,
    thresholds: dict | None = None,
    claims: list[str] | tuple[str, ...] = CLAIMS,
) -> list[ClaimVerdict]:
    """One verdict for each of ``claims`` (by default all twelve, L1-L4,
    T1-T4, C1-C4), from ``measurements`` (see :data:`MEASUREMENT_KEYS`;
    each claim needs the keys :data:`NEEDS` lists) and :data:`THRESHOLDS`
    (or ``thresholds``, which may only set the same keys).

    Raises ``TypeError``/``ValueError`` for missing keys, non-numbers,
    accuracies outside [0, 1], fewer than three seeds or unequal seeds.
    """
    if not isinstance(measurements, dict):
        kind = type(measurements).__name__
        raise TypeError(f"measurements must be a dict, got {kind}")
    unknown = set(claims) - set(RULES)
    if unknown or not claims:
        raise ValueError(
            f"claims must name some of {CLAIMS}, got {claims!r}"
        )
    missing = sorted(
        {k for c in claims for k in NEEDS[c] if k not in measurements}
    )
    if missing:
        raise ValueError(f"measurements lack {missing}")
    th = dict(THRESHOLDS)
    if thresholds is not None:
        if not isinstance(thresholds, dict) or set(thresholds) - set(th):
            raise ValueError(f"thresholds may only set {sorted(th)}")
        th.update(thresholds)
    evidence = _Evidence(measurements, th)
    out = {}
    for claim in CLAIMS:
        if claim in claims and claim not in out:
            found = RULES[claim](evidence)
            for v in found if isinstance(found, list) else [found]:
                out[v.claim] = v
    return [out[c] for c in CLAIMS if c in claims]
