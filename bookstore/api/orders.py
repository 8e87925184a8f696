"""Orders: a customer places and pays; an admin ships; both may cancel before shipping.

Reads are Core selects dumped by hand; every write goes through ``services.orders``.
Another customer's order is 404 on every route, never 403: its existence is not revealed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import Select, select

from bookstore import openapi
from bookstore.auth import Identity, auth_required, current_identity
from bookstore.exceptions import Forbidden, NotFound
from bookstore.extensions import db
from bookstore.models import Order, OrderItem
from bookstore.pagination import ListSpec, paginate, select_fields
from bookstore.schemas.order import OrderListQuery, OrderSchema, order_create_schema, order_to_dict
from bookstore.services import orders as service
from bookstore.services.idempotency import REPLAYED_HEADER, idempotent
from bookstore.services.order_placement import place_order
from bookstore.web.responses import collection_response, resource_response

bp = Blueprint("orders", __name__)
orders = Order.__table__
order_items = OrderItem.__table__
ORDER_FIELDS = (
    "id",
    "user_id",
    "status",
    "total",
    "items",
    "shipping_address",
    "created_at",
    "updated_at",
    "paid_at",
    "shipped_at",
    "cancelled_at",
    "expired_at",
    "expires_at",
)
ORDER_LIST = ListSpec(
    sortable={"id": orders.c.id, "created_at": orders.c.created_at, "total": orders.c.total},
    fields=ORDER_FIELDS,
    default_sort="-created_at",
)
REPLAY_HEADERS = {REPLAYED_HEADER: "string"}


def _actions(order: Any, identity: Identity) -> list[str]:
    return service.available_actions(order.status, order.user_id, identity)


def _visible(stmt: Select[Any], identity: Identity) -> Select[Any]:
    return stmt if identity.is_admin else stmt.where(orders.c.user_id == identity.user_id)


def _filtered(query: dict[str, Any], identity: Identity) -> Select[Any]:
    stmt = _visible(select(orders), identity)
    if "user_id" in query:
        if not identity.is_admin:
            raise Forbidden(
                "Only admins can filter orders by user",
                details=[{"field": "user_id", "code": "ADMIN_ONLY", "message": "Admins only."}],
            )
        stmt = stmt.where(orders.c.user_id == query["user_id"])
    if "status" in query:
        stmt = stmt.where(orders.c.status == query["status"])
    if "created_from" in query:
        stmt = stmt.where(orders.c.created_at >= query["created_from"])
    if "created_to" in query:
        stmt = stmt.where(orders.c.created_at <= query["created_to"])
    return stmt


@bp.get("/orders")
@auth_required()
@openapi.query(OrderListQuery)
@openapi.response(OrderSchema, many=True)
def list_orders(query: dict[str, Any]):
    """List orders: a customer's own, or every order for an admin.

    Newest first by default (`sort` accepts `created_at`, `total`, `id`). Filters: `status`,
    `created_from`/`created_to` (a date or date-time; a date as `created_to` includes that
    day) and, for admins only, `user_id` (a customer sending it gets 403). Per-user data:
    `Cache-Control: private, no-store`.
    """
    identity = current_identity()
    page = paginate(_filtered(query, identity), query, ORDER_LIST, "/v1/orders")
    lines = service.order_lines([row.id for row in page.rows])
    items = [
        select_fields(order_to_dict(row, lines[row.id], _actions(row, identity)), page.fields)
        for row in page.rows
    ]
    return collection_response(items, page.pagination, page.links)


@bp.get("/orders/<int:order_id>")
@auth_required()
@openapi.response(OrderSchema)
def get_order(order_id: int):
    """Get one order (its owner or an admin; anyone else gets 404)."""
    identity = current_identity()
    order = db.session.execute(
        _visible(select(orders), identity).where(orders.c.id == order_id)
    ).first()
    if order is None:
        raise NotFound()
    lines = service.order_lines([order_id])[order_id]
    return resource_response(order_to_dict(order, lines, _actions(order, identity)))


@bp.post("/orders")
@auth_required("customer")
@openapi.body(order_create_schema)
@idempotent(required=True)
@openapi.response(
    OrderSchema, 201, description="Created", headers={"Location": "string", **REPLAY_HEADERS}
)
@openapi.errors(409)
def create_order(body: dict[str, Any]):
    """Place an order, reserving its stock (customers; `Idempotency-Key` required).

    Prices and the total come from the catalog at the moment of ordering. 1 to 50 distinct
    books, 1 to 100 copies each. If any book is short, nothing is reserved and the answer
    is 409 `OUT_OF_STOCK` naming every short line; an unknown book is 400. The order must
    be paid by `expires_at` (`ORDER_PAYMENT_TTL` after placing) or it expires and its
    stock returns. A customer holding `ORDER_MAX_PENDING` pending orders gets 409
    `TOO_MANY_PENDING_ORDERS`. Admins cannot place orders (403). The outcome is stored
    with the key for 24 hours: a retry replays it with `Idempotent-Replayed: true`.
    """
    identity = current_identity()
    order, lines = place_order(identity.user_id, body["items"], body["shipping_address"])
    data = order_to_dict(order, lines, _actions(order, identity))
    return resource_response(data, status=201, location=data["_links"]["self"])


def _action_response(result: tuple[Any, list[Any]]):
    order, lines = result
    return resource_response(order_to_dict(order, lines, _actions(order, current_identity())))


@bp.post("/orders/<int:order_id>/pay")
@auth_required()
@idempotent()
@openapi.response(OrderSchema, headers=REPLAY_HEADERS)
@openapi.errors(409)
def pay_order(order_id: int):
    """Pay for a pending order (simulated payment; the customer who placed it only).

    No request body. 409 `INVALID_STATE_TRANSITION` unless the order is pending (an
    expired order cannot be paid); 403 for an admin. `Idempotency-Key` is optional and
    replays the first outcome.
    """
    return _action_response(service.pay(order_id, current_identity()))


@bp.post("/orders/<int:order_id>/cancel")
@auth_required()
@idempotent()
@openapi.response(OrderSchema, headers=REPLAY_HEADERS)
@openapi.errors(409)
def cancel_order(order_id: int):
    """Cancel an order that has not shipped, returning its copies to stock.

    The customer who placed it or an admin, while it is pending or paid; otherwise 409
    `INVALID_STATE_TRANSITION`. No request body. `Idempotency-Key` is optional.
    """
    return _action_response(service.cancel(order_id, current_identity()))


@bp.post("/orders/<int:order_id>/ship")
@auth_required()
@idempotent()
@openapi.response(OrderSchema, headers=REPLAY_HEADERS)
@openapi.errors(409)
def ship_order(order_id: int):
    """Ship a paid order (admins only).

    A customer gets 403 on their own order and 404 on anyone else's. 409
    `INVALID_STATE_TRANSITION` unless the order is paid. No request body.
    `Idempotency-Key` is optional.
    """
    return _action_response(service.ship(order_id, current_identity()))
