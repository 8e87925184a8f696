# The API image: gunicorn serving wsgi:app with the production config.
#   docker build -t bookstore-api .
#   docker run -p 8000:8000 -e SECRET_KEY=... -e DATABASE_URL=... -e REDIS_URL=... bookstore-api
# docker-compose.yml adds PostgreSQL and Redis, migrates and loads the sample catalog.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    FLASK_APP=wsgi.py

WORKDIR /app

# Dependencies first, so code changes do not reinstall them (every pin ships a wheel).
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app

# The code stays owned by root (read-only to the server); only instance/ (the embedded
# SQLite fallback when DATABASE_URL is unset) is writable.
COPY . .
RUN mkdir -p /app/instance && chown app:app /app/instance

USER app
EXPOSE 8000

# slim has no curl: probe liveness with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/health/live', timeout=3)"]

CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
