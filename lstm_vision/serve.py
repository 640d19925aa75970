"""--serve: the app in a browser. textual-serve's Server (the optional extra ``serve``) answers the page and, for
each browser tab that opens its websocket, runs one app process: ``python -m lstm_vision`` with the command line's
other options. The host and port are checked here first, so a mistake is one sentence and not a traceback from
inside the server. No textual import: textual-serve talks to its app processes over pipes."""

from __future__ import annotations

import errno
import ipaddress
import shlex
import socket
import sys

from lstm_vision.runs.result import EXIT_BAD_INPUT

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
TITLE = "lstm-vision"
TUNNEL = "ssh -L {port}:localhost:{port} BOX"  # the README's recipe, with the port in use


def served_command(app_args: list[str]) -> str:
    """The shell command textual-serve runs for each browser tab (it takes one string, for a shell): this Python,
    so the served app is the installed one, with the options quoted as given. ``exec``: the shell becomes the app,
    whose parent is then the server itself (a served app ends when the server is gone: app/hangup.py)."""
    return "exec " + shlex.join([sys.executable, "-m", "lstm_vision", *app_args])


def host_addresses(host: str, port: int) -> list[tuple]:
    """The (family, address) pairs ``host`` resolves to (a name may give IPv4 and IPv6 both), as the server binds."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    return list(dict.fromkeys((family, address) for family, _, _, _, address in found))


def is_loopback(addresses: list[tuple]) -> bool:
    return all(ipaddress.ip_address(address[0].split("%")[0]).is_loopback for _, address in addresses)


def serve_problem(host: str, port: int) -> tuple[str | None, list[tuple]]:
    """Why the server could not listen on ``host``:``port`` (None: it can), and the addresses it resolved to.
    The port is tried with a socket bound as aiohttp binds it (SO_REUSEADDR: a port a closed server left in
    TIME_WAIT is free), then closed again for the server."""
    if not 1 <= port <= 65535:
        return f"--port {port}: a port is a number from 1 to 65535 (default {DEFAULT_PORT}).", []
    try:
        addresses = host_addresses(host, port)
    except (socket.gaierror, UnicodeError):
        return (
            f"--host {host}: no such host; give a name or address of this machine, e.g. {DEFAULT_HOST} (the default, "
            "this machine only) or 0.0.0.0 (every network interface).",
            [],
        )
    for family, address in addresses:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except PermissionError:
                return f"--port {port}: this user may not listen on ports below 1024; give a port from 1024 to 65535.", addresses
            except OSError as err:
                if err.errno == errno.EADDRINUSE:
                    other = port + 1 if port < 65535 else port - 1
                    return f"--port {port}: the port is in use on {host}; give another one, e.g. --port {other}.", addresses
                return (
                    f"--host {host}: this machine cannot listen on {address[0]} ({err.strerror}); give one of its own "
                    f"addresses, e.g. {DEFAULT_HOST} (the default) or 0.0.0.0 (every network interface).",
                    addresses,
                )
    return None, addresses


def run_serve(host: str, port: int, app_args: list[str]) -> int:
    """Check, warn where the page is open to the network, then serve until ctrl+c (the runs started from the
    browser go on: each is a background run of its own session)."""
    try:
        from lstm_vision.serve_server import AppServer  # textual-serve, aiohttp: the optional extra
    except ImportError:
        print(
            "error: --serve needs the optional extra 'serve' (textual-serve): pip install 'lstm-vision[serve]', "
            "or pip install textual-serve.",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    problem, addresses = serve_problem(host, port)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not is_loopback(addresses):
        print(
            f"warning: --host {host} opens the app to the network, and textual-serve has no authentication: anyone who "
            f"reaches port {port} can start and stop runs; prefer the default {DEFAULT_HOST} and an SSH tunnel "
            f"({TUNNEL.format(port=port)}, README 'In a browser').",
            file=sys.stderr,
            flush=True,
        )
    AppServer(served_command(app_args), host=host, port=port, title=TITLE).serve()
    return 0
