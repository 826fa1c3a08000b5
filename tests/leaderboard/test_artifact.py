"""The Prefect table artifact `leaderboard`, created and then updated, under Prefect's
test harness (a temporary local API and database)."""

from __future__ import annotations

import json

import pytest

from arena.scoring import build_leaderboard
from tasks import markdown
from tasks.publish import ARTIFACT_KEY, artifact_table, leaderboard_artifact
from tests.leaderboard.leaderboard_data import RULES, make_competition

pytestmark = pytest.mark.prefect


def test_artifact_is_created_then_updated(harness):
    from prefect.client.orchestration import get_client

    teams, subs, _ = make_competition()
    board = build_leaderboard(subs, teams, competition="arena", rules=RULES)
    smaller = build_leaderboard(subs, teams[:2], competition="arena", rules=RULES)
    from prefect import flow
    from prefect.artifacts import Artifact
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    def versions() -> set:
        with get_client(sync_client=True) as client:
            found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[ARTIFACT_KEY])))
        return {v.id for v in found}

    earlier = versions()  # the session's harness is shared: other tests' publishes are there too

    @flow(name="publish-leaderboard-test")
    def publish_once(document):  # as the publish-leaderboard flow calls it: inside a flow run
        return leaderboard_artifact(document)

    first = publish_once(board)
    second = publish_once(smaller)
    assert first != second

    assert versions() - earlier == {first, second}  # one key, a new version per publish
    latest = Artifact.get(ARTIFACT_KEY, _sync=True)
    assert latest.id == second and latest.type == "table"
    rows = json.loads(latest.data) if isinstance(latest.data, str) else latest.data
    # The UI renders cells and the description as markdown: team text arrives escaped (tasks/markdown.py).
    assert [r["team"] for r in rows] == ["Sparky", markdown.text("<script>alert(1)</script>")]
    assert rows == json.loads(json.dumps(artifact_table(smaller)))
    assert markdown.text("gbh2024-tariff") in latest.description
