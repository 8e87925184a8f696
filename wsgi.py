"""WSGI entry point for gunicorn: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Also what the flask CLI loads (``FLASK_APP=wsgi.py``): a configuration error is one line
on stderr and exit status 2, never a traceback.
"""

from bookstore import create_app
from bookstore.config import ConfigError, exit_on_config_error

try:
    app = create_app()
except ConfigError as exc:
    exit_on_config_error(exc)
