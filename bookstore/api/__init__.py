"""The blueprints, one module per resource; bookstore.BLUEPRINTS registers them."""
