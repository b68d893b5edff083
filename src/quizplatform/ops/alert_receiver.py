"""The stack's local alert receiver: Alertmanager's webhook target, writing one JSON line
per notification to a file (``quiz stack status`` and the drills read it)."""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def serve(port: int, out: Path) -> None:
    """Accept Alertmanager webhook POSTs on 127.0.0.1:port until killed."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            try:
                payload = json.loads(body)
            except ValueError:
                self.send_response(400)
                self.end_headers()
                return
            with out.open("a") as file:
                file.write(json.dumps({"received_at": time.time(), **payload}) + "\n")
            self.send_response(200)
            self.end_headers()

        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, format: str, *args: object) -> None:
            sys.stdout.write(f"{self.address_string()} {format % args}\n")
            sys.stdout.flush()

    out.parent.mkdir(parents=True, exist_ok=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def received(out: Path) -> list[dict[str, object]]:
    """Every notification received so far (oldest first)."""
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


if __name__ == "__main__":
    serve(int(sys.argv[1]), Path(sys.argv[2]))
