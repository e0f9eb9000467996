"""``dancenow dashboard [RESULTS_DIR...]``: start the Streamlit dashboard on results folders.

The folders are checked here, then handed to the Streamlit process in the environment
(:data:`dashboard.files.ROOTS_ENV`); the server binds to 127.0.0.1 unless ``--host`` says
otherwise, runs headless, sends no usage statistics, watches no files and caps uploads.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import socket
import sys
from pathlib import Path

from dataset.cli import _Formatter, int_in, positive_int

from .files import DEFAULT_MAX_UPLOAD_MB, MAX_UPLOAD_ENV, ROOTS_ENV

APP = Path(__file__).resolve().parent / "app.py"


class DashboardError(ValueError):
    """The dashboard cannot start; the message names the input and the fix."""


def streamlit_command(host: str, port: int, max_upload_mb: int) -> list[str]:
    """The ``streamlit run`` command line (the folders travel in the environment, see :func:`environment`)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.maxUploadSize", str(max_upload_mb),
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--server.enableStaticServing", "false",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",
        # No full garbage collection after every script run: with torch loaded it takes ~0.15 s,
        # which every page open waited for (the heavy modules are frozen out of it, see loaders).
        "--runner.postScriptGC", "false",
    ]  # fmt: skip


def environment(roots: list[Path], max_upload_mb: int) -> dict[str, str]:
    env = dict(os.environ)
    env[ROOTS_ENV] = json.dumps([str(r) for r in roots])
    env[MAX_UPLOAD_ENV] = str(max_upload_mb)
    env.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    return env


def check_roots(names: list[str]) -> list[Path]:
    roots = []
    for name in names or ["outputs"]:
        path = Path(name).resolve()
        if not path.is_dir():
            raise DashboardError(
                f"{name}: {'not a folder' if path.exists() else 'no such folder'}; pass a results folder "
                "(e.g. `outputs`, after `make demo`)"
            )
        roots.append(path)
    return roots


def check_port(host: str, port: int) -> None:
    """Fail here, in one line, where Streamlit could not listen (it would exit with a log line after
    our banner). Bound with SO_REUSEADDR, as Streamlit's server binds, and released at once."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise DashboardError(f"--host {host}: cannot resolve it ({exc.strerror})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            why = (
                "in use (another dashboard?)" if exc.errno == errno.EADDRINUSE else str(exc.strerror).lower()
            )
            raise DashboardError(
                f"{host}:{port}: cannot listen there: {why}; pass another --port (or --host)"
            ) from None


def cmd_dashboard(args: argparse.Namespace) -> int:
    roots = check_roots(args.results)
    check_port(args.host, args.port)
    command = streamlit_command(args.host, args.port, args.max_upload_mb)
    where = ", ".join(str(r) for r in roots)
    print(
        f"dashboard: http://{args.host}:{args.port} reading {where} (read-only); Ctrl-C stops it", flush=True
    )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"dashboard: listening on {args.host}: anyone who can reach it sees these results", flush=True)
    # Replace this process with Streamlit's: signals (Ctrl-C, a test's terminate) reach the server itself.
    os.execve(sys.executable, command, environment(roots, args.max_upload_mb))
    return 0  # not reached


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dashboard",
        help="review results in the browser (Streamlit)",
        description="Start the dashboard on results folders: runs, transfers side by side, the paper's quality "
        "tables, forensics curves and verdicts, the dataset and its consent. It only reads, and only inside "
        "RESULTS_DIR; it listens on 127.0.0.1 unless --host says otherwise.",
        formatter_class=_Formatter,
    )
    p.add_argument("results", nargs="*", metavar="RESULTS_DIR", help="folders to read (default: outputs)")
    p.add_argument("--port", type=int_in(1, 65535), default=8501, help="port to listen on")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument(
        "--max-upload-mb",
        type=positive_int,
        default=DEFAULT_MAX_UPLOAD_MB,
        help="largest video, in MB, that the forensics page accepts for a verdict",
    )
    p.set_defaults(func=cmd_dashboard)


def known_errors() -> tuple[type[BaseException], ...]:
    return (DashboardError,)
