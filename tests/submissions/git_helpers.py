"""Real git repos for the submission tests, made with `git init` (identity set per command)."""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT_ID = ("-c", "user.name=Team Bot", "-c", "user.email=bot@example.invalid", "-c", "commit.gpgsign=false")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *GIT_ID, *args], check=True, capture_output=True, text=True).stdout


def make_repo(path: Path, branch: str = "main") -> Path:
    """A team repo in the 2024 template layout, one initial commit (not a submission)."""
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", branch, str(path)], check=True)
    (path / "bot" / "policies").mkdir(parents=True)
    (path / "bot" / "config.json").write_text('{"policy": {"class_name": "Hold", "parameters": {}}}\n')
    (path / "bot" / "requirements.txt").write_text("")
    (path / "bot" / "policies" / "hold.py").write_text("class Hold:\n    pass\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "start from the template")
    return path


def commit(repo: Path, message: str, files: dict[str, str] | None = None) -> str:
    """Commit `files` (path -> text; an empty change when none) and return the full SHA."""
    for name, text in (files or {}).items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()
