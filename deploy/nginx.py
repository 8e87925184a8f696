"""The nginx configuration, rendered from deploy/nginx/nginx.conf.template.

``render`` fills in the template's ``${NAME}`` placeholders (nginx's own ``$name``
variables are left alone, as the official image's envsubst step leaves them); the limits
come from the same environment variables the app and gunicorn read, so the proxy and the
instances agree. ``self_signed`` makes a certificate for local use.

    python -m deploy.nginx render --out DIR --upstream 127.0.0.1:8001 --upstream ...
    python -m deploy.nginx cert DIR
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "nginx" / "nginx.conf.template"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
# The app's and gunicorn's defaults (bookstore/config/, gunicorn.conf.py).
DEFAULT_MAX_CONTENT_LENGTH = 1024 * 1024
DEFAULT_GUNICORN_TIMEOUT = 30
DEFAULT_GUNICORN_KEEPALIVE = 5
# Passive health checks: this many failures within the window take an instance out of
# rotation for the window.
MAX_FAILS = 2
FAIL_TIMEOUT = "5s"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


def upstream_servers(addresses: Sequence[str], down: Sequence[str] = ()) -> str:
    """One ``server`` line per instance, with the passive health check; ``down`` ones are
    kept in the list but sent nothing (an instance being restarted)."""
    if not set(addresses) - set(down):
        raise ValueError("at least one upstream must be up")
    return "\n        ".join(
        f"server {address} max_fails={MAX_FAILS} fail_timeout={FAIL_TIMEOUT}"
        + (" down;" if address in down else ";")
        for address in addresses
    )


def settings(
    upstreams: Sequence[str],
    *,
    down: Sequence[str] = (),
    runtime_dir: Path,
    log_dir: Path,
    cert: Path,
    key: Path,
    http_listen: str = "80",
    https_listen: str = "443",
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every placeholder's value; limits follow MAX_CONTENT_LENGTH and GUNICORN_*."""
    env = os.environ if env is None else env
    https_port = https_listen.rsplit(":", 1)[-1]
    timeout = _int(env, "GUNICORN_TIMEOUT", DEFAULT_GUNICORN_TIMEOUT)
    keepalive = _int(env, "GUNICORN_KEEPALIVE", DEFAULT_GUNICORN_KEEPALIVE)
    return {
        "NGINX_RUNTIME_DIR": str(runtime_dir),
        "NGINX_LOG_DIR": str(log_dir),
        "NGINX_HTTP_LISTEN": http_listen,
        "NGINX_HTTPS_LISTEN": https_listen,
        "NGINX_REDIRECT_PORT": "" if https_port == "443" else f":{https_port}",
        "NGINX_TLS_CERT": str(cert),
        "NGINX_TLS_KEY": str(key),
        "NGINX_UPSTREAM_SERVERS": upstream_servers(upstreams, down),
        "NGINX_RESOLVER": "",
        "NGINX_CLIENT_MAX_BODY_SIZE": str(
            _int(env, "MAX_CONTENT_LENGTH", DEFAULT_MAX_CONTENT_LENGTH)
        ),
        # Longer than gunicorn's worker timeout, so the instance answers (or dies) first.
        "NGINX_PROXY_TIMEOUT": f"{timeout + 5}s",
        # Shorter than gunicorn's keep-alive: nginx closes an idle connection first.
        "NGINX_UPSTREAM_KEEPALIVE_TIMEOUT": f"{max(1, keepalive - 1)}s",
    }


def render(values: Mapping[str, str], template: str | None = None) -> str:
    """The template with every ``${NAME}`` replaced; a name without a value is an error."""
    text = TEMPLATE.read_text() if template is None else template
    missing = sorted({name for name in PLACEHOLDER.findall(text) if name not in values})
    if missing:
        raise KeyError(f"no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def write_config(out_dir: Path, values: Mapping[str, str]) -> Path:
    """Render into ``out_dir/nginx.conf``, creating the runtime and log folders."""
    out_dir.mkdir(parents=True, exist_ok=True)
    Path(values["NGINX_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True)
    Path(values["NGINX_LOG_DIR"]).mkdir(parents=True, exist_ok=True)
    path = out_dir / "nginx.conf"
    path.write_text(render(values))
    return path


def self_signed(directory: Path, hostnames: Sequence[str] = ("localhost",)) -> tuple[Path, Path]:
    """``cert.pem`` and ``key.pem`` in ``directory``, made once with openssl."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    if cert.exists() and key.exists():
        return cert, key
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SystemExit("openssl is needed to make a self-signed certificate")
    directory.mkdir(parents=True, exist_ok=True)
    names = ",".join([*(f"DNS:{name}" for name in hostnames), "IP:127.0.0.1", "IP:::1"])
    subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "365", "-subj", f"/CN={hostnames[0]}",
            "-addext", f"subjectAltName={names}",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    key.chmod(0o600)
    return cert, key


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.nginx")
    commands = parser.add_subparsers(dest="command", required=True)
    cert = commands.add_parser("cert", help="make cert.pem and key.pem in DIR if missing")
    cert.add_argument("dir", type=Path)
    cert.add_argument("--hostname", action="append", default=None)
    rendered = commands.add_parser("render", help="write DIR/nginx.conf from the template")
    rendered.add_argument("--out", type=Path, required=True)
    rendered.add_argument("--upstream", action="append", required=True)
    rendered.add_argument("--cert", type=Path, required=True)
    rendered.add_argument("--key", type=Path, required=True)
    rendered.add_argument("--http-listen", default="80")
    rendered.add_argument("--https-listen", default="443")
    args = parser.parse_args(argv)
    if args.command == "cert":
        for path in self_signed(args.dir, args.hostname or ("localhost",)):
            print(path)
        return
    out = args.out.resolve()
    values = settings(
        args.upstream,
        runtime_dir=out / "run",
        log_dir=out / "logs",
        cert=args.cert.resolve(),
        key=args.key.resolve(),
        http_listen=args.http_listen,
        https_listen=args.https_listen,
    )
    print(write_config(out, values))


if __name__ == "__main__":
    main()
