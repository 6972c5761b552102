"""Scoring: a run's typed inputs and points stored once, as Parquet parts with digests.

Until now every resident of a run had a row with its signed lines and its inputs as JSON,
decoded again by every explanation and every allocation. A run's frame (``scoring.frames``:
resident_id, total, a struct of points, a struct of the typed inputs) is now stored in
``score_frame_parts`` (Parquet parts of 16,384 residents, each with its SHA-256) and the run
records the digest of the whole (``scoring_runs.frame_digest``). ``resident_scores`` keeps
who was scored and their total (what scoping and rankings read in SQL) and loses the JSON.

Existing runs are converted here, run by run, exactly as the readers decoded them before
(the stored policy text gives each input's type), so old runs read like new ones and no
reader keeps a JSON path. The downgrade writes the JSON back from the frames, in the form
the old code wrote it (``struct.json_encode`` of the typed columns).

This migration imports ``luodi.scoring.frames`` and the policy kernel: the frame it writes is
the one the code of this revision reads.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 00:00:00
"""

from collections.abc import Sequence

import polars as pl
import sqlalchemy as sa
from alembic import op

from luodi.kernels.policy import KEY, TOTAL, CompiledPolicy, prepare_inputs
from luodi.scoring import frames

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

runs = sa.table(
    "scoring_runs",
    sa.column("id", sa.Integer),
    sa.column("policy_text", sa.Text),
    sa.column("frame_digest", sa.String),
)
scores = sa.table(
    "resident_scores",
    sa.column("run_id", sa.Integer),
    sa.column("resident_id", sa.Integer),
    sa.column("total", sa.Float),
    sa.column("points", sa.Text),
    sa.column("inputs", sa.Text),
)
parts = sa.table(
    "score_frame_parts",
    sa.column("run_id", sa.Integer),
    sa.column("part", sa.Integer),
    sa.column("first_resident_id", sa.Integer),
    sa.column("last_resident_id", sa.Integer),
    sa.column("rows", sa.Integer),
    sa.column("digest", sa.String),
    sa.column("data", sa.LargeBinary),
)
JSON_TYPES = {"int": pl.Int64(), "float": pl.Float64(), "bool": pl.Boolean()}


def _frame_from_json(connection: sa.Connection, run_id: int, policy_text: str) -> pl.DataFrame:
    policy = CompiledPolicy.from_text(policy_text).policy
    rows = connection.execute(
        sa.select(scores.c.resident_id, scores.c.total, scores.c.points, scores.c.inputs)
        .where(scores.c.run_id == run_id)
        .order_by(scores.c.resident_id)
    ).all()
    stored = pl.DataFrame(
        [tuple(row) for row in rows],
        schema={KEY: pl.Int64, TOTAL: pl.Float64, "points": pl.String, "inputs": pl.String},
        orient="row",
    )
    points_schema = pl.Struct({name: pl.Float64() for name in policy.indicator_ids})
    points = stored.select(
        KEY, TOTAL, pl.col("points").str.json_decode(points_schema)
    ).unnest("points")
    inputs_schema = pl.Struct(
        {
            name: JSON_TYPES.get(spec.type.kind.value, pl.String())
            for name, spec in policy.inputs.items()
        }
    )
    decoded = stored.select(KEY, pl.col("inputs").str.json_decode(inputs_schema)).unnest("inputs")
    typed = prepare_inputs(decoded.select(KEY, *policy.inputs), policy)
    return frames.score_frame(points, typed, policy.indicator_ids)


def upgrade() -> None:
    op.create_table(
        "score_frame_parts",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("first_resident_id", sa.Integer(), nullable=False),
        sa.Column("last_resident_id", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["scoring_runs.id"], name=op.f("fk_score_frame_parts_run_id_scoring_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "part", name=op.f("pk_score_frame_parts")),
    )
    with op.batch_alter_table("scoring_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("frame_digest", sa.String(length=64), nullable=True))
    connection = op.get_bind()
    for run_id, policy_text in connection.execute(
        sa.select(runs.c.id, runs.c.policy_text).order_by(runs.c.id)
    ).all():
        stored, digest = frames.to_parts(_frame_from_json(connection, run_id, policy_text))
        for part in stored:
            connection.execute(
                parts.insert().values(
                    run_id=run_id,
                    part=part.number,
                    first_resident_id=part.first_resident_id,
                    last_resident_id=part.last_resident_id,
                    rows=part.rows,
                    digest=part.digest,
                    data=part.data,
                )
            )
        connection.execute(
            runs.update().where(runs.c.id == run_id).values(frame_digest=digest)
        )
    with op.batch_alter_table("scoring_runs", schema=None) as batch_op:
        batch_op.alter_column("frame_digest", existing_type=sa.String(length=64), nullable=False)
    with op.batch_alter_table("resident_scores", schema=None) as batch_op:
        batch_op.drop_column("inputs")
        batch_op.drop_column("points")


def downgrade() -> None:
    with op.batch_alter_table("resident_scores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("points", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("inputs", sa.Text(), nullable=True))
    connection = op.get_bind()
    for (run_id,) in connection.execute(sa.select(runs.c.id).order_by(runs.c.id)).all():
        stored = connection.execute(
            sa.select(parts.c.part, parts.c.digest, parts.c.data)
            .where(parts.c.run_id == run_id)
            .order_by(parts.c.part)
        ).all()
        frame = frames.from_parts(
            [(row[0], row[1], bytes(row[2])) for row in stored], f"scoring run {run_id}"
        )
        if frame.height == 0:
            continue
        # As the code before this revision wrote them.
        encoded = frame.select(
            pl.col(KEY).alias("resident"),
            pl.col(frames.POINTS).struct.json_encode().alias("points_json"),
            pl.col(frames.INPUTS).struct.json_encode().alias("inputs_json"),
        )
        connection.execute(
            scores.update()
            .where(scores.c.run_id == run_id, scores.c.resident_id == sa.bindparam("resident"))
            .values(points=sa.bindparam("points_json"), inputs=sa.bindparam("inputs_json")),
            encoded.to_dicts(),
        )
    with op.batch_alter_table("resident_scores", schema=None) as batch_op:
        batch_op.alter_column("points", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("inputs", existing_type=sa.Text(), nullable=False)
    with op.batch_alter_table("scoring_runs", schema=None) as batch_op:
        batch_op.drop_column("frame_digest")
    op.drop_table("score_frame_parts")
