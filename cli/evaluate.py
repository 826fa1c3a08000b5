"""`arena evaluate`: one policy over one window of a data file, as the 2024 evaluator did.

Exit 0 when the policy ran to the end, 1 when the team's code failed (the output file is
still written, status "error"), 2 for bad input (no output file), 3 when the sandbox cannot run
here (no Docker engine or base image: arena's problem, not the policy's; no output file)."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from battery_sim.data import load_market_csv, parse_timestamp
from battery_sim.errors import BadInput, PolicyError
from battery_sim.evaluator import evaluate
from battery_sim.policies import BUILTIN_POLICIES
from battery_sim.rules import DEFAULT_RULESET, get_ruleset
from battery_sim.teamcode import TeamCodeError, read_config
from cli._common import console, fail, shown, warn_if_not_isolated
from tasks.sandbox.protocol import SandboxUnavailable


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """k=v pairs; v is read as a Python/JSON literal when it is one, else kept as text (never eval'd)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--param {pair!r}: use name=value")
        try:
            params[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key.strip()] = value
    return params


def builtin_factory(name: str, params: dict[str, Any]):
    try:
        cls = BUILTIN_POLICIES[name]
    except KeyError:
        raise BadInput(f"unknown policy {name!r}; built-in: {', '.join(sorted(BUILTIN_POLICIES))}") from None
    return lambda: cls(**params)


def _progress_bar(total_hint: int):
    """A rich progress bar on a terminal for long windows; nothing otherwise."""
    if not sys.stderr.isatty() or total_hint < 20_000:
        return None, None
    from rich.progress import Progress

    bar = Progress(transient=True, console=console)
    task = bar.add_task("evaluating", total=total_hint)
    return bar, lambda done, total: bar.update(task, completed=done, total=total)


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate_command(
        data: Annotated[Path, typer.Option(help="Market data CSV (timestamp, price, pv_power, ...)")],
        output: Annotated[Path, typer.Option(help="Where to write the result JSON")],
        rules: Annotated[str, typer.Option(help="Ruleset")] = DEFAULT_RULESET,
        policy: Annotated[str | None, typer.Option(help="A built-in policy by class name")] = None,
        param: Annotated[list[str] | None, typer.Option(help="Policy parameter name=value (repeatable)")] = None,
        team_dir: Annotated[Path | None, typer.Option(help="A team repo in the 2024 template layout")] = None,
        start: Annotated[str | None, typer.Option(help="First interval end (naive = NEM time)")] = None,
        end: Annotated[str | None, typer.Option(help="Last interval end (naive = NEM time)")] = None,
        trials: Annotated[int, typer.Option(help="Runs: the window plus trials-1 random sub-windows")] = 1,
        seed: Annotated[int, typer.Option(help="Seed for random sub-windows and the policy's randomness")] = 42,
        sandbox: Annotated[str | None, typer.Option(help="docker | process | local (team repos)")] = None,
        step_timeout: Annotated[float | None, typer.Option(help="Seconds one interval may take")] = None,
        startup_timeout: Annotated[float | None, typer.Option(help="Seconds start-up may take")] = None,
        run_timeout: Annotated[float | None, typer.Option(help="Seconds the whole run may take")] = None,
        memory: Annotated[str | None, typer.Option(help="Memory limit, e.g. 512m")] = None,
        cpus: Annotated[float | None, typer.Option(help="CPU limit")] = None,
    ) -> None:
        """Evaluate one policy (built-in or a team repo) over one window and write the result JSON."""
        try:
            if (policy is None) == (team_dir is None):
                raise BadInput("give exactly one of --policy NAME or --team-dir PATH")
            ruleset = get_ruleset(rules)
            market = load_market_csv(data)
            window_start = parse_timestamp(start) if start else None
            window_end = parse_timestamp(end) if end else None
            if policy is not None:
                params = parse_params(param or [])
                factory, class_name = builtin_factory(policy, params), policy
            else:
                config = read_config(team_dir)
                params, class_name = config.parameters, config.class_name
                try:
                    factory = _team_factory(team_dir, sandbox, dict(
                        step_timeout=step_timeout, startup_timeout=startup_timeout,
                        run_timeout=run_timeout, memory=memory, cpus=cpus))
                except PolicyError as exc:  # an image that does not build: the team's error, in the result
                    factory = _failing(exc)
            market.window(window_start, window_end)  # bad windows are bad input, before anything runs
        except (BadInput, TeamCodeError) as exc:
            fail(str(exc))
        except SandboxUnavailable as exc:
            fail(f"sandbox unavailable: {exc}", code=3)
        bar, progress = _progress_bar(len(market))
        try:
            if bar:
                bar.start()
            result = evaluate(market, ruleset, factory, start=window_start, end=window_end, trials=trials,
                              seed=seed, class_name=class_name, parameters=params, progress=progress)
        except BadInput as exc:
            fail(str(exc))
        except SandboxUnavailable as exc:
            fail(f"sandbox unavailable: {exc}", code=3)
        finally:
            if bar:
                bar.stop()
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=2))
        if result["status"] == "success":
            console.print(f"{shown(class_name)} {ruleset.name}: score {result['score']:.4f} over {result['steps']} intervals"
                          f" -> {output}", highlight=False)
            return
        console.print(f"{shown(class_name)} failed: {shown(result['error'])} -> {shown(output)}", highlight=False)
        raise typer.Exit(1)


def _failing(exc: Exception):
    """A factory that fails as the team's setup did: the evaluator records it like any team failure."""
    def factory(seed: int | None = None):
        raise exc

    return factory


def _team_factory(team_dir: Path, backend: str | None, limit_flags: dict[str, Any]):
    from tasks import sandbox

    limits = sandbox.limits_from_cli(**limit_flags)
    return sandbox.team_policy_factory(team_dir, backend=warn_if_not_isolated(backend), limits=limits)
