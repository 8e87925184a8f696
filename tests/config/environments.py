"""The environments the configuration tests build on."""

from __future__ import annotations

from bookstore.config import load_config

# A key as the documented command makes it (fixed here so that runs are alike).
GOOD_SECRET = "q7Vd2LxR9mK4tWz8bN1cHf6gJp3sYa0uEo5iTr-_Zk"


def production(**env: str) -> dict:
    return load_config({"APP_ENV": "production", **env})
