"""python -m netlab.checks.tcpconnect HOST PORT TIMEOUT: exit 0 if a TCP connect succeeds."""

import socket
import sys


def main() -> int:
    host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            print(f"connected {s.getsockname()[0]}:{s.getsockname()[1]} -> {host}:{port}")
            return 0
    except OSError as exc:
        print(f"connect to {host}:{port} failed: {exc.strerror or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
