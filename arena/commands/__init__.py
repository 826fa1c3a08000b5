"""One module per noun; each exposes `register(app)`."""

from arena.commands import (
    datapoints,
    db,
    demo,
    evaluate,
    ingest,
    orchestrate,
    sandbox,
    site,
    submissions,
    tasks,
    teams,
)

REGISTRARS = [
    evaluate.register,
    tasks.register,
    teams.register,
    db.register,
    ingest.register,
    datapoints.register,
    sandbox.register,
    submissions.register,
    site.register,
    orchestrate.register,
    demo.register,
]
