"""Database access beside the ORM session: the lean read path."""
