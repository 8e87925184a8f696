"""The HTTP server around the app: gunicorn workers and the JSON logs."""
