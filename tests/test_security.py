"""Security checks (docs/security.md): server settings, no unpickling, verified checkpoints, the dependency audit."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from packaging.version import Version

from engine.audit import affects, in_events, snapshot_findings
from tests.conftest import ROOT

SOURCES = [path for folder in ("engine", "pages") for path in (ROOT / folder).rglob("*.py")] + [ROOT / "app.py"]


def test_server_limits_uploads_and_checks_xsrf():
    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["maxUploadSize"] <= 50 and server["enableXsrfProtection"] is True


def test_uploaders_accept_only_their_file_type():
    calls = [line for path in SOURCES for line in path.read_text().splitlines() if "file_uploader(" in line]
    assert calls and all(re.search(r"type=\[\"\w+\"\]", call) for call in calls), calls


def test_no_code_unpickles_or_loads_unverified_weights():
    offenders = []
    for path in SOURCES:
        text = path.read_text()
        for pattern in (r"\bimport pickle\b", r"pickle\.loads?\(", r"joblib\.load\(", r"read_pickle\(", r"\bdill\b",
                        r"allow_pickle=True", r"weights_only=False", r"(?<![.\w])eval\(", r"(?<![.\w])exec\("):
            offenders += [f"{path.name}: {pattern}" for _ in re.findall(pattern, text)]
        offenders += [f"{path.name}: np.load without allow_pickle=False"
                      for line in text.splitlines() if "np.load(" in line and "allow_pickle=False" not in line]
        if path.name != "checkpoints.py":  # the one place that loads weights, after the sha256 check
            offenders += [f"{path.name}: torch.load" for _ in re.findall(r"(?<!``)torch\.load\(", text)]
    assert not offenders, offenders


@pytest.mark.parametrize("twin", ["synthesis", "astrochem", "diffusion", "hybrid"])
def test_every_shipped_checkpoint_matches_its_card(twin):
    from engine.checkpoints import sha256_of

    cards = {path: path.read_text() for path in (ROOT / "models" / twin).glob("*.json")}
    checkpoints = sorted((ROOT / "models" / twin).glob("*.pt"))
    assert checkpoints
    for checkpoint in checkpoints:  # each file's sha256 is recorded in a card beside it
        assert any(sha256_of(checkpoint) in text for text in cards.values()), checkpoint.name


# ---- OSV range matcher (engine.audit), on a small fixture ---------------------------------------------------

ADVISORY = {"id": "TEST-1", "affected": [
    {"package": {"name": "Demo_Pkg", "ecosystem": "PyPI"},
     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2.0"},
                                                  {"introduced": "2.0"}, {"last_affected": "2.1.5"}]}],
     "versions": ["3.0.0rc1"]},
    {"package": {"name": "other", "ecosystem": "npm"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]},
]}


@pytest.mark.parametrize("version,hit", [("0.1", True), ("1.1.9", True), ("1.2.0", False), ("1.9", False),
                                         ("2.0", True), ("2.1.5", True), ("2.1.6", False), ("3.0.0rc1", True),
                                         ("3.0.0", False), ("2.0.1+cpu", True)])
def test_osv_matcher_follows_events_and_explicit_versions(version, hit):
    assert affects(ADVISORY, "demo-pkg", version) is hit
    assert not affects(ADVISORY, "other", "1.0")  # another ecosystem never matches


def test_osv_events_limit_and_unsorted_order():
    events = [{"fixed": "2.0"}, {"introduced": "1.0"}, {"limit": "5.0"}]
    assert in_events(Version("1.5"), events) and not in_events(Version("0.9"), events)
    assert not in_events(Version("2.0"), events)


def test_vendored_snapshot_flags_an_old_release(tmp_path):
    folder = tmp_path / "demo-pkg"
    folder.mkdir()
    (folder / "TEST-1.yaml").write_text("id: TEST-1\naliases: [CVE-0000-1]\naffected:\n- package: {name: demo-pkg, "
                                        "ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n"
                                        "    - introduced: '0'\n    - fixed: 1.2.0\n")
    found = snapshot_findings({"demo-pkg": "1.0", "numpy": "2.4.6"}, tmp_path)
    assert found == [{"package": "demo-pkg", "version": "1.0", "id": "TEST-1", "aliases": ["CVE-0000-1"],
                      "fixed": ["1.2.0"]}]
    assert snapshot_findings({"demo-pkg": "1.2.0"}, tmp_path) == []


def test_the_real_snapshot_knows_old_numpy_issues():
    found = snapshot_findings({"numpy": "1.13.1"})  # CVE-2017-12852 (numpy.pad loop) is in the snapshot
    assert "PYSEC-2017-1" in {f["id"] for f in found}


def test_pip_audit_report_is_parsed_and_all_skipped_means_not_audited(monkeypatch):
    import subprocess
    from types import SimpleNamespace

    from engine.audit import pip_audit_findings

    def fake(report):
        monkeypatch.setattr(subprocess, "run", lambda *a, **k: SimpleNamespace(stdout=json.dumps(report)))

    vuln = {"id": "PYSEC-1", "aliases": ["CVE-1"], "fix_versions": ["1.2"]}
    fake({"dependencies": [{"name": "Demo_Pkg", "version": "1.0", "vulns": [vuln]},
                           {"name": "x", "version": "2", "vulns": []}]})
    assert pip_audit_findings({"demo-pkg": "1.0", "x": "2"}) == [
        {"package": "demo-pkg", "version": "1.0", "id": "PYSEC-1", "aliases": ["CVE-1"], "fixed": ["1.2"]}]
    fake({"dependencies": [{"name": "x", "version": "2", "skip_reason": "Dependency not found on PyPI"}]})
    assert pip_audit_findings({"x": "2"}) is None  # the false all-clear seen on this machine
