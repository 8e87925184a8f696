"""orders: the expired state, the payment deadline, and indexes over pending orders

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:00:00

Pending orders placed before this revision get a full payment window from the upgrade.
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('pending', 'paid', 'shipped', 'cancelled')"
NEW_STATUSES = "status IN ('pending', 'paid', 'shipped', 'cancelled', 'expired')"
DEFAULT_TTL = dt.timedelta(seconds=1800)  # ORDER_PAYMENT_TTL's default
PENDING = sa.text("status = 'pending'")


def upgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f("ck_orders_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_orders_status"), NEW_STATUSES)
        batch_op.create_check_constraint(
            op.f("ck_orders_expired_at"), "status <> 'expired' OR expired_at IS NOT NULL"
        )
    op.execute(
        sa.text("UPDATE orders SET expires_at = :deadline WHERE status = 'pending'").bindparams(
            sa.bindparam("deadline", dt.datetime.now(dt.UTC) + DEFAULT_TTL, sa.DateTime(True))
        )
    )
    for name, column in (
        ("ix_orders_pending_expires_at", "expires_at"),
        ("ix_orders_pending_user_id", "user_id"),
    ):
        op.create_index(
            name, "orders", [column], postgresql_where=PENDING, sqlite_where=PENDING
        )


def downgrade():
    op.drop_index("ix_orders_pending_user_id", table_name="orders")
    op.drop_index("ix_orders_pending_expires_at", table_name="orders")
    # An expired order's stock went back: the closest older state is cancelled.
    op.execute(
        "UPDATE orders SET status = 'cancelled', cancelled_at = expired_at "
        "WHERE status = 'expired'"
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_orders_expired_at"), type_="check")
        batch_op.drop_constraint(op.f("ck_orders_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_orders_status"), OLD_STATUSES)
        batch_op.drop_column("expires_at")
        batch_op.drop_column("expired_at")
