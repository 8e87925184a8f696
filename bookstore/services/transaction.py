"""The one commit of a state change, which an idempotent request joins.

A service ends every state change with :func:`commit`. Inside a view decorated with
``@idempotent`` that commit is deferred to the decorator, which writes the key's stored
response into the same transaction first: the change and its key commit together or not
at all. Anywhere else it is a plain commit.
"""

from __future__ import annotations

from flask import g, has_request_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from bookstore.extensions import db

_JOINED = "_transaction_joined"


def commit() -> None:
    """Commit the current state change, or hand the commit to the enclosing idempotent view."""
    if has_request_context() and g.get(_JOINED):
        db.session.flush()  # surface constraint errors here, where the service expects them
        return
    db.session.commit()


def join() -> None:
    """Defer this request's :func:`commit` calls until :func:`leave`; the caller commits."""
    setattr(g, _JOINED, True)


def leave() -> None:
    g.pop(_JOINED, None)


@event.listens_for(Session, "before_commit")
def _refuse_stray_commit(session: Session) -> None:
    # A bare db.session.commit() inside an idempotent view would commit the change without
    # its key's response; failing loudly (500, everything rolled back) is the safe outcome.
    if has_request_context() and g.get(_JOINED):
        raise RuntimeError("inside an idempotent view, commit with services.transaction.commit()")
