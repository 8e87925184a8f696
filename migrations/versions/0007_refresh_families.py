"""refresh_families: one row per login session, locked by refresh and by revocation

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 05:00:00

A session's revocation moves from every token row (``refresh_tokens.revoked_at``, which
an UPDATE could not apply to a row a concurrent refresh was inserting) to one family row
that refresh and revoke both lock. ``created_at`` is the session start, which bounds it
(``JWT_SESSION_MAX_AGE``). Existing families are carried over from their tokens.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "refresh_families",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_refresh_families_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_families")),
    )
    with op.batch_alter_table("refresh_families", schema=None) as batch_op:
        batch_op.create_index("ix_refresh_families_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_refresh_families_revoked_at", ["revoked_at"], unique=False)
        batch_op.create_index("ix_refresh_families_user_id", ["user_id"], unique=False)
    op.execute(
        "INSERT INTO refresh_families (id, user_id, created_at, revoked_at) "
        "SELECT family_id, MIN(user_id), MIN(issued_at), MAX(revoked_at) "
        "FROM refresh_tokens GROUP BY family_id"
    )
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_refresh_tokens_family_id_refresh_families"),
            "refresh_families",
            ["family_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.drop_column("revoked_at")


def downgrade():
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE refresh_tokens SET revoked_at = (SELECT revoked_at FROM refresh_families "
        "WHERE refresh_families.id = refresh_tokens.family_id)"
    )
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_refresh_tokens_family_id_refresh_families"), type_="foreignkey"
        )
    with op.batch_alter_table("refresh_families", schema=None) as batch_op:
        batch_op.drop_index("ix_refresh_families_user_id")
        batch_op.drop_index("ix_refresh_families_revoked_at")
        batch_op.drop_index("ix_refresh_families_created_at")
    op.drop_table("refresh_families")
