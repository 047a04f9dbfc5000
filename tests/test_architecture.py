"""The layering of DESIGN.md holds: import-linter contracts, plus ext/ never importing engine."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_when_linted_then_all_kept() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


_ENGINE_IMPORT = re.compile(r"^\s*(?:from|import|cimport)\s+engine(?!\.ext\b)(?:\.|\s|$)", re.MULTILINE)


def test_ext_sources_when_scanned_then_never_import_engine() -> None:
    offenders = []
    for path in sorted((REPO / "ext").rglob("*")):
        if path.suffix in {".py", ".pyx", ".pxd"}:
            for match in _ENGINE_IMPORT.finditer(path.read_text(encoding="utf-8")):
                offenders.append(f"{path.relative_to(REPO)}: {match.group(0).strip()}")
    assert offenders == [], "ext/ is the bottom layer and must not import engine:\n" + "\n".join(offenders)


def test_generated_code_when_listed_by_git_then_not_committed() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    generated = [
        p
        for p in tracked.splitlines()
        if re.search(r"(_pb2(_grpc)?\.pyi?|\.so|\.c)$", p) and not p.startswith("clients/")
    ]
    assert generated == []
