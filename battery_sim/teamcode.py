"""Loading a team's policy from a repo in the 2024 template layout (stdlib only, so the
sandbox agent can use it inside the container too).

    bot/config.json        {"policy": {"class_name": "...", "parameters": {...}}}
    bot/policies/*.py      classes derived from the template's Policy, found by class name
    bot/requirements.txt   optional

The team's modules import `from policies.policy import Policy`, so `bot/` goes on
sys.path and `policies` is imported as a package, as the 2024 evaluator did.
"""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class TeamCodeError(Exception):
    """The team repo does not have the shape we need; the message says what to fix."""


@dataclass(frozen=True)
class PolicyConfig:
    class_name: str
    parameters: dict[str, Any] = field(default_factory=dict)


def bot_dir_of(team_dir: Path | str) -> Path:
    team_dir = Path(team_dir)
    return team_dir / "bot" if (team_dir / "bot").is_dir() else team_dir


def read_config(team_dir: Path | str) -> PolicyConfig:
    path = bot_dir_of(team_dir) / "config.json"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise TeamCodeError("bot/config.json is missing: it must name your policy class") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TeamCodeError(f"bot/config.json is not valid JSON: {exc}") from None
    policy = raw.get("policy") if isinstance(raw, dict) else None
    if not isinstance(policy, dict) or not isinstance(policy.get("class_name"), str):
        raise TeamCodeError('bot/config.json must look like {"policy": {"class_name": "MyPolicy", "parameters": {}}}')
    parameters = policy.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise TeamCodeError("bot/config.json: policy.parameters must be an object of name: value")
    return PolicyConfig(policy["class_name"], parameters)


def _forget_team_modules() -> None:
    for name in [n for n in sys.modules if n == "policies" or n.startswith("policies.")]:
        del sys.modules[name]


def load_policy_class(team_dir: Path | str, class_name: str) -> type:
    """Import bot/policies and return the class called `class_name`.

    Team code runs on import; call this only where the team's code is allowed to run."""
    bot = bot_dir_of(team_dir)
    if not (bot / "policies").is_dir():
        raise TeamCodeError("bot/policies/ is missing: put your policy classes there")
    _forget_team_modules()
    sys.path.insert(0, str(bot.resolve()))
    try:
        package = importlib.import_module("policies")
        registry = getattr(package, "policy_classes", None)
        if isinstance(registry, dict) and class_name in registry:
            return registry[class_name]
        for module_path in sorted((bot / "policies").glob("*.py")):
            if module_path.stem == "__init__":
                continue
            module = importlib.import_module(f"policies.{module_path.stem}")
            candidate = getattr(module, class_name, None)
            if isinstance(candidate, type):
                return candidate
    finally:
        sys.path.remove(str(bot.resolve()))
    found = sorted(_policy_names(bot))
    hint = f" (found: {', '.join(found)})" if found else ""
    raise TeamCodeError(f"no policy class named {class_name!r} in bot/policies{hint}; check bot/config.json")


def _policy_names(bot: Path) -> list[str]:
    names = []
    for module in sys.modules.values():
        if getattr(module, "__name__", "").startswith("policies."):
            names += [n for n, v in vars(module).items() if isinstance(v, type) and hasattr(v, "act")]
    return names
