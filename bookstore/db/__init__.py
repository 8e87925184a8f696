"""Database access beside the ORM session: the read path, and ending a request's session."""
