"""`proreg import`: the documented layouts load, bad lines are named and write nothing,
and a second run writes nothing new."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app import cli
from app.config import get_settings
from tests.support import Api, Registry

DOC = Path(__file__).resolve().parents[2] / "docs" / "IMPORT.md"
DOC_SITE = "LYON-01"


@pytest.fixture
def proreg(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run the `proreg` command against the test database; returns (exit code, output)."""
    monkeypatch.setenv("PROREG_DATABASE_URL", database_url)
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli.app, list(args))
        return result.exit_code, result.output

    yield run
    get_settings.cache_clear()


def _examples(site: str) -> list[str]:
    """The CSV examples of docs/IMPORT.md (patients, infusions, responses), for `site`."""
    blocks = re.findall(r"```csv\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 3
    return [b.replace(DOC_SITE, site) for b in blocks]


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _patients(admin: Api, site: str) -> list[dict[str, Any]]:
    return admin.ok("GET", "/v1/patients", params={"site": site, "limit": 500})["items"]  # type: ignore[no-any-return]


def _responses(admin: Api, patient_id: str) -> list[dict[str, Any]]:
    path = f"/v1/patients/{patient_id}/responses"
    return admin.ok("GET", path, params={"limit": 500})["items"]  # type: ignore[no-any-return]


def test_documented_examples_import_and_score(
    proreg: Any, registry: Registry, admin: Api, tmp_path: Path
) -> None:
    site = registry.new_site()
    for name, text in zip(("p.csv", "i.csv", "r.csv"), _examples(site), strict=True):
        code, out = proreg("import", _write(tmp_path, name, text))
        assert code == 0, out
    by_pseudonym = {p["pseudonym"]: p for p in _patients(admin, site)}
    assert set(by_pseudonym) == {"P-0001", "P-0002", "P-0003"}
    assert by_pseudonym["P-0001"]["conditions"] == ["fibromyalgia", "neuropathic"]
    first = by_pseudonym["P-0001"]
    infusions = admin.ok("GET", f"/v1/patients/{first['id']}/infusions")["items"]
    assert [i["number"] for i in infusions] == [1, 2]
    assert infusions[0]["co_medications"] == [{"name": "midazolam", "dose": 2.0, "unit": "mg"}]
    assert infusions[0]["dose_mg"] == pytest.approx(34.0)
    responses = _responses(admin, first["id"])
    assert len(responses) == 5
    hads = next(r for r in responses if r["instrument"] == "hads")
    odd = [2, 1, 2, 2, 2, 1]  # hads_1, 3, 5, 7, 9, 11 (hads_13 empty: prorated)
    assert hads["scores"]["hads_anxiety"] == pytest.approx(sum(odd) / 6 * 7)
    assert hads["scores"]["prorated"] is True
    post = next(r for r in responses if r["timepoint"] == "post_infusion")
    assert post["infusion_id"] == infusions[0]["id"]
    assert post["submitted_by"] == "cli-import"


def test_importing_twice_writes_once(
    proreg: Any, registry: Registry, admin: Api, tmp_path: Path
) -> None:
    site = registry.new_site()
    files = [_write(tmp_path, n, t) for n, t in zip(("p.csv", "i.csv", "r.csv"),
                                                     _examples(site), strict=True)]  # fmt: skip
    for path in files:
        assert proreg("import", path)[0] == 0
    for path, rows in zip(files, (3, 3, 5), strict=True):
        code, out = proreg("import", path)
        assert code == 0, out
        assert f"{rows} " in out
        assert "0 imported" in out
        assert f"{rows} already present" in out
    patients = _patients(admin, site)
    assert len(patients) == 3
    first = next(p for p in patients if p["pseudonym"] == "P-0001")
    assert len(_responses(admin, first["id"])) == 5


def test_one_bad_line_writes_nothing_and_is_named(
    proreg: Any, registry: Registry, admin: Api, tmp_path: Path
) -> None:
    site = registry.new_site()
    text = "pseudonym,birth_year,sex\nA-1,1970,female\nA-2,nineteen-seventy,male\nA-3,1980,female\n"
    path = _write(tmp_path, "bad.csv", text)
    code, out = proreg("import", path, "--site", site)
    assert code == 1
    assert f"{path}:3: birth_year:" in out
    assert ":2:" not in out
    assert "nothing was imported" in out
    assert _patients(admin, site) == []


def test_bad_answer_in_a_response_file_rolls_back_the_file(
    proreg: Any, registry: Registry, admin: Api, tmp_path: Path
) -> None:
    site = registry.new_site()
    assert proreg("import", _write(tmp_path, "p.csv", "pseudonym\nB-1\n"), "--site", site)[0] == 0
    text = (
        "pseudonym,instrument,timepoint,collected_at,score\n"
        "B-1,nrs-pain,baseline,2024-01-10T10:00:00Z,5\n"
        "B-1,nrs-pain,follow_up,2024-02-10T10:00:00Z,11\n"
        "B-1,nrs-pain,follow_up,2024-03-10T10:00:00Z,4\n"
        "B-9,nrs-pain,follow_up,2024-03-10T10:00:00Z,4\n"
        "B-1,nrs-pain,follow_up,2024-03-10T10:00:00Z,4\n"
    )
    path = _write(tmp_path, "r.csv", text)
    code, out = proreg("import", path, "--site", site)
    assert code == 1
    assert f"{path}:3: answers.score:" in out
    assert f"{path}:5: pseudonym: no patient 'B-9'" in out
    assert f"{path}:6:" in out
    assert "repeats line 4" in out
    (patient,) = _patients(admin, site)
    assert _responses(admin, patient["id"]) == []


def test_infusion_references_are_checked(
    proreg: Any, registry: Registry, admin: Api, tmp_path: Path
) -> None:
    site = registry.new_site()
    assert proreg("import", _write(tmp_path, "p.csv", "pseudonym\nC-1\n"), "--site", site)[0] == 0
    text = (
        "pseudonym,started_at,dose_mg\n"
        "C-1,2024-02-01T09:00:00Z,30\n"
        "C-1,2024-02-08T09:00:00,30\n"
        "C-1,2024-02-15T09:00:00Z,\n"
    )
    code, out = proreg("import", _write(tmp_path, "i.csv", text), "--site", site)
    assert code == 1
    assert ":3: started_at:" in out
    assert ":4:" in out
    (patient,) = _patients(admin, site)
    assert admin.ok("GET", f"/v1/patients/{patient['id']}/infusions")["items"] == []


def test_header_problems_are_line_one(proreg: Any, registry: Registry, tmp_path: Path) -> None:
    site = registry.new_site()
    path = _write(tmp_path, "x.csv", "pseudonym,colour\nD-1,blue\n")
    code, out = proreg("import", path, "--site", site)
    assert code == 1
    assert f"{path}:1: colour: unknown column for patients" in out
    code, out = proreg("import", _write(tmp_path, "y.csv", "name\nx\n"))
    assert code == 1
    assert ":1:" in out
    code, out = proreg("import", path, "--kind", "infusions", "--site", site)
    assert code == 1
    assert ":1: started_at: required column missing" in out
