"""One demo patient's year: inclusion visit, infusions with pre/post scores, monthly follow-up."""

from __future__ import annotations

import bisect
import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np

from app.demo.calibrate import hads_answers

if TYPE_CHECKING:
    from app.demo.generate import DemoInfusion, DemoResponse

MONTH_DAYS = 30.4375
EVENT_RATES = {
    "fatigue": 0.30, "nausea": 0.20, "headache": 0.15, "dizziness": 0.12,
    "dissociation": 0.08, "vomiting": 0.05, "anxiety": 0.04, "hallucination": 0.03,
    "hypertension": 0.03, "other": 0.02,
}  # fmt: skip
SEVERITY_NAMES = ("mild", "moderate", "severe")
SEVERITY_WEIGHTS = (0.70, 0.25, 0.05)
HADS_MONTHS = (3, 6, 12)
DURATIONS = (60.0, 120.0, 180.0, 240.0)


def _days(value: float) -> dt.timedelta:
    return dt.timedelta(days=float(value))


def _clip(value: Any, lo: Any, hi: Any) -> Any:
    # Plain comparisons: numpy's clip costs microseconds per scalar, a lot over a million draws.
    return lo if value < lo else hi if value > hi else value


def _cdf(weights: tuple[float, ...]) -> list[float]:
    """The cumulative distribution `Generator.choice(p=weights)` searches (same floats)."""
    cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
    cdf /= cdf[-1]
    return [float(c) for c in cdf]


def _pick(rng: np.random.Generator, cdf: list[float]) -> int:
    """`rng.choice(len(cdf), p=weights)` drawn the same way (one uniform, same stream)."""
    return bisect.bisect_right(cdf, rng.random())


SEVERITY_CDF = _cdf(SEVERITY_WEIGHTS)
MISSING_CDF = _cdf((0.93, 0.06, 0.01))


class Timeline:
    """Builds the records of one patient from their baseline and final scores."""

    def __init__(
        self, rng: np.random.Generator, t1: dt.datetime, depressed: bool,
        scores: dict[str, tuple[int, int]],
    ) -> None:  # fmt: skip
        self.rng, self.t1, self.scores = rng, t1, scores
        self.inclusion = t1 - _days(rng.uniform(1, 10))
        last = 12 if rng.random() < 0.72 else int(rng.integers(1, 12))
        self.visits = {
            m: t1 + _days(m * MONTH_DAYS + rng.uniform(1, 20))
            for m in range(1, last + 1)
            if m == last or rng.random() > 0.1
        }
        self.last = last
        base = scores["pain"][0]
        self.pre_1 = _clip(base + int(rng.integers(-1, 2)), 0, 10)
        relief = rng.normal(2.3 if depressed else 1.0, 0.9)
        self.post_1 = _clip(round(self.pre_1 - relief), 0, 10)

    def pain_at(self, when: dt.datetime) -> int:
        """Pain drifts from the post-infusion-1 level to the final score, with noise."""
        final = self.scores["pain"][1]
        share = (when - self.t1) / (self.visits[self.last] - self.t1)
        level = self.post_1 + (final - self.post_1) * share + self.rng.normal(0, 0.7)
        return int(_clip(round(level), 0, 10))

    def build(self) -> tuple[list[DemoInfusion], list[DemoResponse]]:
        infusions = self._infusions()
        responses = [*self._baseline(), *self._around(infusions), *self._follow_up()]
        self._amend_and_retract(responses)
        return infusions, responses

    def _baseline(self) -> list[DemoResponse]:
        from app.demo.generate import DemoResponse

        (pain, _), (anx, _), (dep, _) = (self.scores[s] for s in self._scales())
        when = self.inclusion
        return [
            DemoResponse("nrs-pain", "baseline", when, {"score": pain}, visit="M0"),
            DemoResponse("hads", "baseline", when + dt.timedelta(minutes=5),
                         hads_answers(anx, dep, self.rng), visit="M0"),
        ]  # fmt: skip

    @staticmethod
    def _scales() -> tuple[str, str, str]:
        return ("pain", "hads_anxiety", "hads_depression")

    def _infusions(self) -> list[DemoInfusion]:
        from app.demo.generate import DemoInfusion

        rng = self.rng
        count = 2 + min(int(rng.poisson(1.3)), 6)
        window = (self.visits[self.last] - self.t1).total_seconds() / 86400 - 3
        later = sorted(rng.uniform(10, max(window, 11), size=count - 1))
        weight = float(_clip(round(rng.normal(72, 15) * 2) / 2, 40, 150))
        infusions = []
        for start in (self.t1, *(self.t1 + _days(d) for d in later)):
            duration = DURATIONS[int(rng.integers(0, 4))]  # = rng.choice(DURATIONS)
            dose = float(_clip(round(rng.normal(0.8, 0.2) * 20) / 20, 0.3, 2.0))
            infusion = DemoInfusion(start, duration, weight, dose, self._co_medications())
            infusion.events = self._events(start, duration)
            infusions.append(infusion)
        return infusions

    def _co_medications(self) -> list[dict[str, Any]]:
        rng, meds = self.rng, []
        if rng.random() < 0.6:
            meds.append({"name": "magnesium_sulfate", "dose": 2.0, "unit": "g"})
        if rng.random() < 0.3:
            meds.append({"name": "midazolam", "dose": 1.0, "unit": "mg"})
        if rng.random() < 0.1:
            meds.append({"name": "clonidine", "dose": 75.0, "unit": "ug"})
        return meds

    def _events(self, start: dt.datetime, duration: float) -> list[tuple[str, str, dt.datetime]]:
        events = []
        for kind, rate in EVENT_RATES.items():
            if self.rng.random() < rate:
                severity = SEVERITY_NAMES[_pick(self.rng, SEVERITY_CDF)]
                onset = start + dt.timedelta(minutes=float(self.rng.uniform(10, duration)))
                events.append((kind, severity, onset))
        return events

    def _around(self, infusions: list[DemoInfusion]) -> list[DemoResponse]:
        from app.demo.generate import DemoResponse

        out = []
        for k, infusion in enumerate(infusions):
            start = infusion.started_at
            if k == 0:
                pre, post = self.pre_1, self.post_1
            else:
                pre = self.pain_at(start)
                post = _clip(pre - (0, 0, 1)[int(self.rng.integers(0, 3))], 0, 10)
            end = start + dt.timedelta(minutes=infusion.duration_min + 60)
            if k > 0 or self.rng.random() < 0.6:
                before = start - dt.timedelta(minutes=20)
                out.append(DemoResponse("nrs-pain", "pre_infusion", before, {"score": pre},
                                        infusion=k))  # fmt: skip
            out.append(DemoResponse("nrs-pain", "post_infusion", end, {"score": post}, infusion=k))
        return out

    def _follow_up(self) -> list[DemoResponse]:
        from app.demo.generate import DemoResponse

        out = []
        (_, pain_f), (anx_b, anx_f), (dep_b, dep_f) = (self.scores[s] for s in self._scales())
        for m, when in self.visits.items():
            pain = pain_f if m == self.last else self.pain_at(when)
            out.append(DemoResponse("nrs-pain", "follow_up", when, {"score": pain}, f"M{m}"))
            if m == self.last or m in HADS_MONTHS:
                share = m / self.last
                anx, dep = (
                    f if m == self.last
                    else int(_clip(round(b + (f - b) * share + self.rng.normal(0, 1)), 0, 21))
                    for b, f in ((anx_b, anx_f), (dep_b, dep_f))
                )  # fmt: skip
                missing = 0 if m == self.last else _pick(self.rng, MISSING_CDF)
                answers = hads_answers(anx, dep, self.rng, missing)
                later = when + dt.timedelta(minutes=5)
                out.append(DemoResponse("hads", "follow_up", later, answers, f"M{m}"))
        return out

    def _amend_and_retract(self, responses: list[DemoResponse]) -> None:
        """A few transcription errors, amended later, and a few duplicates, retracted."""
        from app.demo.generate import DemoResponse

        for response in responses:
            if response.instrument == "nrs-pain" and self.rng.random() < 0.005:
                wrong = (response.answers["score"] + int(self.rng.integers(1, 4))) % 11
                response.first_answers = {"score": wrong}
            elif response.instrument == "hads" and self.rng.random() < 0.005:
                key = f"hads_{int(self.rng.integers(1, 15))}"
                first = dict(response.answers)
                first[key] = (first[key] + 1) % 4 if first[key] is not None else 0
                response.first_answers = first
        if self.rng.random() < 0.02:
            month = int(self.rng.choice(list(self.visits)))
            when = self.visits[month] + dt.timedelta(hours=2)
            score = int(self.rng.integers(0, 11))
            responses.append(DemoResponse("nrs-pain", "follow_up", when, {"score": score},
                                          f"M{month}", retracted=True))  # fmt: skip
