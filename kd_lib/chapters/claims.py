"""Verdicts on the source article's claims about LSTMs and TCNs (L1-L4,
T1-T4, C1-C4) from what a chapter measures, with thresholds fixed before
measuring: ``"holds"``, ``"holds only when ..."`` or ``"does not hold"``,
each with its scope (model size, threads and device, batch, length,
training or inference, budget) and its evidence, so that a re-run that
measures something else changes a chapter's table instead of
contradicting it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import fmean

from ..comparison import paired_difference, verdict

__all__ = [
    "THRESHOLDS",
    "VERDICTS",
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
"""Fixed before measuring. Multiply-adds per step within ±15 % are the
same; a model is faster in a scope when the other takes at least 1.2
times its time there (at the longest length); it handles a dependency
with at least 90 % test accuracy on every seed and is blind to it within
5 points of chance (mean); a gradient vanishes when the first step's
input gradient is below 1e-3 of the last step's, and a norm above 100
explodes; a model needs less memory at most 0.9 times the other's;
accuracy differences within ±1 point are equivalent; a run has converged
when its mean validation accuracy over the last quarter of training differs
from the quarter before by less than 2 points (the caller checks, passes
``converged``)."""

VERDICTS = ("holds", "holds only when", "does not hold")

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
"""The measurements each claim's verdict rests on. ``recall``:
``{distance: {"LSTM": [accuracy per seed], "TCN": [...]}}``; ``digits``:
the same by task; ``speed``: LSTM time / TCN time,
``{scope: {length: ratio}}``; ``memory``: TCN / LSTM,
``{scope: ratio}``; ``macs``, ``gradient`` (first over last: step for
the LSTM, block for the TCN), ``largest_gradient_norm`` and
``converged``: ``{"LSTM": ..., "TCN": ...}``; ``variable_length``:
``{model: {"batched_equals_alone", "batched", "right_pad"}}``; ``budget``
and ``setup``: words."""


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


def _models(entry, name: str) -> dict:
    if not isinstance(entry, dict) or set(entry) != {"LSTM", "TCN"}:
        raise ValueError(f"{name} must be a dict with 'LSTM' and 'TCN'")
    return entry


def _pair(entry, name: str) -> dict[str, list[float]]:
    _models(entry, name)
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


def _graded(everywhere: bool, condition: str) -> tuple[str, str]:
    """(verdict, condition): ``"holds"`` where the claim held in every
    case, ``"holds only when"`` ``condition`` where it held in some, else
    ``"does not hold"``."""
    if everywhere:
        return "holds", ""
    if condition:
        return "holds only when", condition
    return "does not hold", ""


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

    def handles(self, values) -> bool:
        return min(values) >= self.th["handles"]

    def blind(self, values) -> bool:
        chance = _number(self["chance"], "chance")
        gap = abs(fmean(values) - chance)
        return gap <= self.th["chance_margin"]

    def recall_verdict(self, claim, statement, result) -> ClaimVerdict:
        """A verdict on the recall runs, with their scope and evidence."""
        d, recall = self.distances, self.recall
        evidence = "; ".join(
            f"d={k}: LSTM {100 * fmean(recall[k]['LSTM']):.0f}%, "
            f"TCN {100 * fmean(recall[k]['TCN']):.0f}%"
            for k in d
        )
        scope = f"recall, distances {d[0]}-{d[-1]}, {self['budget']}"
        return ClaimVerdict(claim, statement, *result, scope, evidence)


def _l1_lstm_long(e: _Evidence) -> ClaimVerdict:
    ok = [d for d in e.distances if e.handles(e.recall[d]["LSTM"])]
    condition = f"distance <= {max(ok)}" if ok else ""
    return e.recall_verdict(
        "L1",
        "LSTM handles long dependencies",
        _graded(ok == e.distances, condition),
    )


def _variable_length_entry(e: _Evidence, name: str):
    """``(batched equals alone, evidence)`` of one model's
    variable-length measurement."""
    entry = e["variable_length"].get(name)
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
    exact, evidence = _variable_length_entry(e, "LSTM")
    result = _graded(False, "packed or masked" if exact else "")
    scope = "mixed lengths, inference"
    args = ("L2", "LSTM handles variable length", *result, scope)
    return ClaimVerdict(*args, evidence)


def _t2_tcn_variable_length(e: _Evidence) -> ClaimVerdict:
    """T2: the TCN handles variable length, and beats the LSTM on some
    tasks."""
    exact, evidence = _variable_length_entry(e, "TCN")
    digits = e.digits
    wins = [
        task
        for task, pair in digits.items()
        if verdict(
            paired_difference(pair["LSTM"], pair["TCN"]),
            e.th["equivalence"],
        )
        == "better"
    ]
    gaps = "; ".join(
        f"{t} TCN-LSTM "
        f"{100 * (fmean(p['TCN']) - fmean(p['LSTM'])):+.1f} pts"
        for t, p in digits.items()
    )
    won = "wins on " + ", ".join(wins) if wins else "no win"
    condition = f"left-padded or masked; {won}" if exact else ""
    result = _graded(False, condition)
    scope = f"mixed lengths, inference; digits, {e['budget']}"
    args = ("T2", "TCN: variable length, can beat LSTM", *result, scope)
    return ClaimVerdict(*args, f"{evidence}; {gaps}")


def _l3_lstm_costly(e: _Evidence) -> ClaimVerdict:
    macs = e["macs"]
    ratio = _number(macs["LSTM"], "macs") / _number(
        macs["TCN"], "macs", positive=True
    )
    same = abs(ratio - 1) <= e.th["same_arithmetic"]
    result = _graded(not same and ratio >= 1, "")
    scope = "multiply-adds per step, equal parameters"
    args = ("L3", "LSTM is costly", *result, scope)
    return ClaimVerdict(*args, f"{macs['LSTM']} vs {macs['TCN']} per step")


def _gradient_verdicts(e: _Evidence) -> list[ClaimVerdict]:
    """L4 and T4: gradients vanish or explode, so training may not
    converge. Each model is judged where its chain of operations is long:
    the LSTM through time, the TCN through depth."""
    keys = ("gradient", "largest_gradient_norm", "converged")
    gradient, largest, converged = (_models(e[k], k) for k in keys)
    where = {"LSTM": "step 0/last", "TCN": "first/last block"}
    out = []
    for claim, name in (("L4", "LSTM"), ("T4", "TCN")):
        if not isinstance(converged[name], bool):
            raise TypeError(f"converged[{name!r}] must be a bool")
        first = _number(gradient[name], f"gradient[{name!r}]", True)
        norm = _number(
            largest[name], f"largest_gradient_norm[{name!r}]", True
        )
        troubled = first < e.th["vanishing"] or norm > e.th["exploding"]
        condition = "untrained (at init); tuned, its curve ends flat"
        condition = condition if troubled else ""
        result = _graded(troubled and not converged[name], condition)
        scope = f"digits, 64 steps, {e['budget']}"
        ending = (
            "flat at the end"
            if converged[name]
            else "still moving at the end"
        )
        evidence = (
            f"{where[name]} at init {first:.0e}; "
            f"largest norm {norm:.1f}; {ending}"
        )
        statement = f"{name} gradients vanish/explode"
        out.append(ClaimVerdict(claim, statement, *result, scope, evidence))
    return out


def _faster_scopes(speed: dict, faster: float) -> list[str]:
    """Scopes where the TCN is faster at the longest length, with the
    shortest length from which it stays so."""
    found = []
    for scope, by_length in speed.items():
        lengths = sorted(by_length)
        ratios = [float(by_length[n]) for n in lengths]
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


def _speed_verdict(claim, statement, speed, scope, faster) -> ClaimVerdict:
    """Holds where the TCN is faster in every scope at every length,
    holds only when in some scopes (or from some length on)."""
    scopes = _faster_scopes(speed, faster)
    everywhere = len(scopes) == len(speed)
    everywhere = everywhere and all("T >=" not in s for s in scopes)
    evidence = "LSTM/TCN time, longest T; " + "; ".join(
        f"{s}: x{float(by_length[max(by_length)]):.2f}"
        for s, by_length in speed.items()
    )
    result = _graded(everywhere, " or ".join(scopes))
    return ClaimVerdict(claim, statement, *result, scope, evidence)


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
    inside = [d for d in e.distances if d < e.rf]
    blind = [d for d in e.outside if e.blind(e.recall[d]["TCN"])]
    sees = [d for d in inside if e.handles(e.recall[d]["TCN"])]
    blind_beyond = bool(e.outside) and blind == e.outside
    condition = f"distance >= receptive field ({e.rf})"
    if blind_beyond and sees == inside:
        result = ("holds only when", condition)
    else:
        result = ("holds" if blind_beyond else "does not hold", "")
    return e.recall_verdict(
        "T3", "TCN cannot handle long dependencies", result
    )


def _c1_pooling(e: _Evidence) -> ClaimVerdict:
    pooling = int(_number(e["pooling_layers"], "pooling_layers"))
    result = _graded(bool(pooling), "")
    scope = "generic TCN (Bai et al.); encoder-decoder TCNs do pool"
    args = ("C1", "TCN = convolutions + pooling", *result, scope)
    return ClaimVerdict(*args, f"{pooling} pooling layers")


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
    if split and split == e.outside:
        condition = f"distance >= receptive field ({e.rf})"
    else:
        condition = (
            "distance " + ", ".join(map(str, split)) if split else ""
        )
    return e.recall_verdict(
        "C3",
        "LSTM long-term, TCN local",
        _graded(bool(split) and split == e.distances, condition),
    )


def _c4_memory(e: _Evidence) -> ClaimVerdict:
    memory = e["memory"]
    less = [k for k, r in memory.items() if r <= e.th["less_memory"]]
    evidence = "TCN/LSTM " + ", ".join(
        f"{k} x{float(r):.2f}" for k, r in memory.items()
    )
    result = _graded(len(less) == len(memory), " or ".join(less))
    scope = "training step, inference, streaming state; " + e["setup"]
    args = ("C4", "TCN needs less memory", *result, scope)
    return ClaimVerdict(*args, evidence)


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
    measurements: dict, claims: list[str] | tuple[str, ...] = CLAIMS
) -> list[ClaimVerdict]:
    """One verdict for each of ``claims`` (by default all twelve), from
    ``measurements`` (each claim needs the keys :data:`NEEDS` lists) and
    :data:`THRESHOLDS`. Raises ``TypeError``/``ValueError`` for missing
    keys, non-numbers, accuracies outside [0, 1], fewer than three seeds or
    unequal seeds.
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
    evidence = _Evidence(measurements, THRESHOLDS)
    out = {}
    for claim in CLAIMS:
        if claim in claims and claim not in out:
            found = RULES[claim](evidence)
            for v in found if isinstance(found, list) else [found]:
                out[v.claim] = v
    return [out[c] for c in CLAIMS if c in claims]
