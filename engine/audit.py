"""`python -m engine audit`: known vulnerabilities in the installed versions of our pinned dependencies.

First tries the real ``pip-audit`` against PyPI's vulnerability service (short timeout). When that
service cannot be reached (this build machine reaches package downloads only), it falls back to the
vendored OSV advisories in ``data/security/advisories/`` (a snapshot of the PyPA advisory database; see
its README for the commit and date) and says so in the result. Packages checked: every pin in the
requirements files plus their installed dependencies. Known, accepted findings are listed with a
reason in ``data/security/accepted.json``; any other finding is an error (exit 2).
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import json
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from engine.errors import TwinLabError

ROOT = Path(__file__).resolve().parents[1]
SECURITY = ROOT / "data" / "security"
REQUIREMENTS = ("requirements.txt", "requirements-dev.txt")
PROBE_TIMEOUT_S = 5.0
PIP_AUDIT_TIMEOUT_S = 180.0


def pinned_requirements(files=REQUIREMENTS, root: Path = ROOT) -> list[Requirement]:
    """The requirements named in ``files`` (``-r`` includes and comments skipped)."""
    found = []
    for name in files:
        for line in (root / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                try:
                    found.append(Requirement(line))
                except InvalidRequirement:
                    raise TwinLabError(f"{name}: cannot parse requirement {line!r}.") from None
    return found


def installed_closure(requirements: list[Requirement]) -> dict[str, str]:
    """``{canonical name: installed version}`` of the requirements and everything they pull in."""
    seen: dict[str, str] = {}
    stack = [(req.name, set(req.extras)) for req in requirements]
    while stack:
        name, extras = stack.pop()
        key = canonicalize_name(name)
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # e.g. the optional GPU extra on a CPU machine
        seen[key] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in (extras or {""})):
                stack.append((req.name, set(req.extras)))
    return dict(sorted(seen.items()))


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def in_events(version: Version, events: list[dict]) -> bool:
    """Whether ``version`` is inside an OSV ``ECOSYSTEM`` range given by its ``events``."""
    ordered = []
    for event in events:
        (kind, value), = event.items()
        bound = Version("0") if value == "0" else _version(str(value))
        if bound is not None:
            ordered.append((bound, kind))
    affected = False
    for bound, kind in sorted(ordered, key=lambda item: item[0]):
        if kind == "introduced" and version >= bound:
            affected = True
        elif kind in ("fixed", "limit") and version >= bound:
            affected = False
        elif kind == "last_affected" and version > bound:
            affected = False
    return affected


def affects(advisory: dict, package: str, version: str) -> bool:
    """Whether an OSV ``advisory`` covers ``package`` at ``version`` (explicit versions or ranges)."""
    parsed = _version(version)
    for entry in advisory.get("affected", []):
        pkg = entry.get("package", {})
        if pkg.get("ecosystem") != "PyPI" or canonicalize_name(pkg.get("name", "")) != package:
            continue
        if version in map(str, entry.get("versions", [])):
            return True
        if parsed is not None and any(r.get("type") == "ECOSYSTEM" and in_events(parsed, r.get("events", []))
                                      for r in entry.get("ranges", [])):
            return True
    return False


def fixed_versions(advisory: dict, package: str) -> list[str]:
    return sorted({str(event["fixed"]) for entry in advisory.get("affected", [])
                   if canonicalize_name(entry.get("package", {}).get("name", "")) == package
                   for r in entry.get("ranges", []) for event in r.get("events", []) if "fixed" in event})


def snapshot_findings(installed: dict[str, str], folder: Path = SECURITY / "advisories") -> list[dict]:
    """Findings for ``installed`` from the vendored OSV YAML files (one folder per package)."""
    import yaml

    findings = []
    for package, version in installed.items():
        for path in sorted((folder / package).glob("*.yaml")):
            advisory = yaml.safe_load(path.read_text())
            if affects(advisory, package, version):
                findings.append({"package": package, "version": version, "id": advisory["id"],
                                 "aliases": advisory.get("aliases", []),
                                 "fixed": fixed_versions(advisory, package)})
    return findings


def service_reachable(installed: dict[str, str], timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether PyPI's per-release JSON (the vulnerability source pip-audit uses) answers for our pins."""
    package, version = next(iter(installed.items()))
    try:
        with urllib.request.urlopen(f"https://pypi.org/pypi/{package}/{version}/json", timeout=timeout) as reply:
            return reply.status == 200 and "vulnerabilities" in json.loads(reply.read())
    except (OSError, ValueError):
        return False


def pip_audit_findings(installed: dict[str, str]) -> list[dict] | None:
    """Findings from the real ``pip-audit`` over ``installed``; None when it cannot audit them."""
    pins = "\n".join(f"{name}=={version.split('+')[0]}" for name, version in installed.items())
    with tempfile.TemporaryDirectory() as folder:
        requirements = Path(folder) / "pins.txt"
        requirements.write_text(pins + "\n")
        try:
            done = subprocess.run([sys.executable, "-m", "pip_audit", "--no-deps", "--disable-pip", "--format",
                                   "json", "--progress-spinner", "off", "--timeout", "10", "-r", str(requirements)],
                                  capture_output=True, text=True, timeout=PIP_AUDIT_TIMEOUT_S)
            report = json.loads(done.stdout)
        except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
            return None
    deps = report.get("dependencies", [])
    if not deps or all("skip_reason" in dep for dep in deps):
        return None  # nothing was actually audited
    return [{"package": canonicalize_name(dep["name"]), "version": dep["version"], "id": vuln["id"],
             "aliases": vuln.get("aliases", []), "fixed": vuln.get("fix_versions", [])}
            for dep in deps for vuln in dep.get("vulns", [])]


def audit(online: bool = True) -> dict:
    """Audit the installed dependency closure of our pins; see the module docstring."""
    installed = installed_closure(pinned_requirements())
    findings = pip_audit_findings(installed) if online and service_reachable(installed) else None
    if findings is not None:
        source = "pip-audit (PyPI vulnerability service, live)"
    else:
        snapshot = json.loads((SECURITY / "snapshot.json").read_text())
        source = (f"vendored PyPA advisory-database snapshot {snapshot['commit'][:12]} of {snapshot['date']} "
                  "(the live service was not reachable; newer advisories are not covered)")
        findings = snapshot_findings(installed)
    accepted = json.loads((SECURITY / "accepted.json").read_text())
    open_findings = [f for f in findings if f["id"] not in accepted]
    return {"source": source, "packages_checked": len(installed), "findings": findings,
            "accepted": {f["id"]: accepted[f["id"]] for f in findings if f["id"] in accepted},
            "open": open_findings}


def _run(args: argparse.Namespace) -> dict:
    result = audit(online=not args.offline)
    if result["open"]:
        listed = "; ".join(f"{f['package']} {f['version']}: {f['id']} (fixed in {', '.join(f['fixed']) or '?'})"
                           for f in result["open"])
        raise TwinLabError(f"{len(result['open'])} known vulnerabilities: {listed}. Bump the pin or list the "
                           "advisory with a reason in data/security/accepted.json.")
    return result


def register(subparsers) -> None:
    cmd = subparsers.add_parser("audit", help="known vulnerabilities in the installed dependencies (pip-audit "
                                              "or the vendored advisory snapshot)")
    cmd.add_argument("--offline", action="store_true", help="skip pip-audit; use the vendored snapshot only")
    cmd.set_defaults(func=_run, as_json=True)
