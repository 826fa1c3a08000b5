"""One failure vocabulary (battery_sim/errors.py): every platform-side error is a
PlatformFailure that the flows' one retry policy tries again when it says so; a team's failure
and bad input never are."""

from __future__ import annotations

import pytest

from battery_sim.errors import BadInput, PlatformFailure, PolicyError
from flows._retry import PLATFORM_RETRIES, is_retryable
from tasks.evaluation import PlatformError, TeamFailure
from tasks.gitrepo import GitError, RateLimited
from tasks.prices.http import AuthError, SourceUnavailable
from tasks.publish import PublishError
from tasks.sandbox import ImageBuildError, SandboxUnavailable
from tasks.sandbox.protocol import PolicyCrashed, StepTimeout
from tasks.store.base import Conflict, ItemTooLarge, NotFound, StoreError


@pytest.mark.parametrize("exc", [
    PlatformError("the baseline failed"), SandboxUnavailable("no engine"), StoreError("locked"),
    GitError("fetch failed"), PublishError("upload failed"),
    ConnectionResetError(), TimeoutError(), OSError("disk full"),
], ids=type)
def test_arenas_own_failures_are_retried(exc):
    assert is_retryable(exc)


@pytest.mark.parametrize("exc", [
    PolicyCrashed("act() raised ZeroDivisionError"), StepTimeout("step time limit"), TeamFailure("bot/config.json"),
    ImageBuildError("no wheel"), BadInput("no such window"), ValueError("bug"), KeyError("bug"),
    # Platform-side, but another attempt fails the same way or a lower layer already retried:
    NotFound("team 9"), ItemTooLarge("400 KB"), Conflict("lost the race"),
    SourceUnavailable("nemweb", "gave up after 4 attempts"), AuthError("oe", "HTTP 401"), RateLimited("wait"),
], ids=type)
def test_team_failures_bad_input_and_final_platform_failures_are_not(exc):
    assert not is_retryable(exc)


def test_every_team_failure_is_a_policy_error_and_no_platform_failure_is():
    for team in (TeamFailure, ImageBuildError, PolicyCrashed, StepTimeout):
        assert issubclass(team, PolicyError) and not issubclass(team, PlatformFailure)
    for platform in (PlatformError, SandboxUnavailable, StoreError, GitError, RateLimited, PublishError,
                     SourceUnavailable):
        assert issubclass(platform, PlatformFailure) and not issubclass(platform, PolicyError)


def test_the_retry_policy_backs_off_with_jitter():
    assert PLATFORM_RETRIES["retries"] == 2 and PLATFORM_RETRIES["retry_jitter_factor"] > 0
    delays = PLATFORM_RETRIES["retry_delay_seconds"](PLATFORM_RETRIES["retries"])
    assert delays == sorted(delays) and delays[0] < delays[-1]
