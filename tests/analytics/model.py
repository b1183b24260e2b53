"""An independent reference for analytics tests: what was submitted through the API, and the
SPEC §7 definitions recomputed from it in plain Python."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from tests.support import Api

MONTH = 30.4375
SCALES = ("pain", "hads_anxiety", "hads_depression")


def at(day: float, hour: float = 9.0) -> dt.datetime:
    """An instant `day` days after 2023-03-01 (UTC)."""
    return dt.datetime(2023, 3, 1, tzinfo=dt.UTC) + dt.timedelta(days=day, hours=hour)


def iso(when: dt.datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def subscale(points: list[int | None]) -> float | None:
    """HADS subscale: sum; one missing item prorated (mean of 6 × 7); two or more: None."""
    known = [p for p in points if p is not None]
    if len(known) < 6:
        return None
    return float(sum(known)) if len(known) == 7 else sum(known) / 6 * 7


def scores_of(instrument: str, answers: dict[str, Any]) -> dict[str, float | None]:
    if instrument == "nrs-pain":
        return {"pain": float(answers["score"])}
    items = [answers.get(f"hads_{i}") for i in range(1, 15)]
    return {"hads_anxiety": subscale(items[0::2]), "hads_depression": subscale(items[1::2])}


@dataclass
class Resp:
    id: str
    instrument: str
    timepoint: str
    collected_at: dt.datetime
    scores: dict[str, float | None]
    infusion: int | None  # index into the patient's infusions
    order: int
    retracted: bool = False


@dataclass
class Inf:
    id: str
    started_at: dt.datetime
    dose_mg_per_kg: float | None
    events: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Pat:
    id: str
    sex: str
    birth_year: int | None
    conditions: list[str]
    infusions: list[Inf] = field(default_factory=list)
    responses: list[Resp] = field(default_factory=list)

    @property
    def t1(self) -> dt.datetime | None:
        return min((i.started_at for i in self.infusions), default=None)

    def numbered(self) -> list[Inf]:
        return sorted(self.infusions, key=lambda i: i.started_at)

    def live(self, scale: str) -> list[Resp]:
        return [r for r in self.responses if not r.retracted and r.scores.get(scale) is not None]

    def baseline(self, scale: str) -> float | None:
        t1, first = self.t1, (self.numbered() or [None])[0]
        if t1 is None:
            pool = [r for r in self.live(scale) if r.timepoint == "baseline"]
        else:
            pool = [
                r for r in self.live(scale)
                if r.collected_at <= t1 and (r.timepoint == "baseline" or (
                    r.timepoint == "pre_infusion" and r.infusion is not None
                    and self.infusions[r.infusion] is first))
            ]  # fmt: skip
        pool.sort(key=lambda r: (r.collected_at, r.order))
        return pool[0].scores[scale] if pool else None

    def final(self, scale: str) -> float | None:
        t1 = self.t1
        pool = [r for r in self.live(scale) if t1 is not None and r.collected_at > t1]
        pool.sort(key=lambda r: (r.collected_at, r.order))
        return pool[-1].scores[scale] if pool else None

    def change(self, scale: str) -> float | None:
        b, f = self.baseline(scale), self.final(scale)
        return None if b is None or f is None else f - b

    def around(self, k: int, scale: str) -> tuple[float | None, float | None]:
        """(pre_k, post_k); pre_1 falls back on the baseline."""
        numbered = self.numbered()
        if k > len(numbered):
            return None, None
        target = numbered[k - 1]
        mine = [r for r in self.live(scale)
                if r.infusion is not None and self.infusions[r.infusion] is target]  # fmt: skip
        pre = sorted((r for r in mine if r.timepoint == "pre_infusion"),
                     key=lambda r: (r.collected_at, r.order))  # fmt: skip
        post = sorted((r for r in mine if r.timepoint == "post_infusion"),
                      key=lambda r: (r.collected_at, r.order))  # fmt: skip
        pre_k = pre[-1].scores[scale] if pre else (self.baseline(scale) if k == 1 else None)
        return pre_k, post[0].scores[scale] if post else None

    def month(self, m: int, scale: str) -> float | None:
        if m == 0:
            return self.baseline(scale)
        t1 = self.t1
        if t1 is None:
            return None
        pool = [
            r for r in self.live(scale)
            if m * MONTH <= (r.collected_at - t1).total_seconds() / 86400 < (m + 1) * MONTH
        ]  # fmt: skip
        pool.sort(key=lambda r: (r.collected_at, r.order))
        return pool[-1].scores[scale] if pool else None

    def age(self) -> float | None:
        t1 = self.t1
        return None if t1 is None or self.birth_year is None else float(t1.year - self.birth_year)

    def cumulative_dose(self) -> float | None:
        doses = [i.dose_mg_per_kg for i in self.infusions]
        if not doses or any(d is None for d in doses):
            return None
        return math.fsum(d for d in doses if d is not None)


@dataclass
class Cohort:
    """Registers patients, infusions and responses through the API and remembers them."""

    api: Api
    patients: list[Pat] = field(default_factory=list)
    _order: int = 0

    def patient(self, sex: str = "female", birth_year: int | None = 1970,
                conditions: tuple[str, ...] = ("fibromyalgia",)) -> Pat:  # fmt: skip
        made = self.api.make_patient(sex=sex, birth_year=birth_year, conditions=list(conditions))
        patient = Pat(made["id"], sex, birth_year, list(conditions))
        self.patients.append(patient)
        return patient

    def infusion(self, patient: Pat, day: float, dose: float | None = 0.5) -> Inf:
        body: dict[str, Any] = {"started_at": iso(at(day)), "dose_mg_per_kg": dose}
        if dose is None:
            body.update(dose_mg=35.0, weight_kg=None)
        made = self.api.make_infusion(patient.id, **body)
        infusion = Inf(made["id"], at(day), dose)
        patient.infusions.append(infusion)
        return infusion

    def event(self, infusion: Inf, kind: str, severity: str = "mild") -> None:
        self.api.ok("POST", f"/v1/infusions/{infusion.id}/adverse-events", 201,
                    json={"type": kind, "severity": severity})  # fmt: skip
        infusion.events.append((kind, severity))

    def respond(self, patient: Pat, timepoint: str, day: float, answers: dict[str, Any],
                infusion: Inf | None = None, hour: float = 9.0) -> Resp:  # fmt: skip
        instrument = "nrs-pain" if "score" in answers else "hads"
        body: dict[str, Any] = {"instrument": instrument, "timepoint": timepoint,
                                "collected_at": iso(at(day, hour)), "answers": answers}  # fmt: skip
        if infusion is not None:
            body["infusion_id"] = infusion.id
        made = self.api.make_response(patient.id, **body)
        self._order += 1
        index = None if infusion is None else patient.infusions.index(infusion)
        resp = Resp(made["id"], instrument, timepoint, at(day, hour),
                    scores_of(instrument, answers), index, self._order)  # fmt: skip
        patient.responses.append(resp)
        return resp

    def pain(self, patient: Pat, timepoint: str, day: float, score: int,
             infusion: Inf | None = None, hour: float = 9.0) -> Resp:  # fmt: skip
        return self.respond(patient, timepoint, day, {"score": score}, infusion, hour)

    def amend(self, resp: Resp, answers: dict[str, Any]) -> None:
        self.api.ok("POST", f"/v1/responses/{resp.id}/amend",
                    json={"answers": answers, "reason": "typo"})  # fmt: skip
        resp.scores = scores_of(resp.instrument, answers)

    def retract(self, resp: Resp) -> None:
        self.api.ok("POST", f"/v1/responses/{resp.id}/retract", json={"reason": "wrong patient"})
        resp.retracted = True
