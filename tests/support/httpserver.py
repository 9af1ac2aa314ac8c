"""An HTTP server for tests that never asks a resolver anything.

`http.server.HTTPServer.server_bind` looks up `socket.getfqdn(address)` for its `server_name`: a
reverse DNS query for the address it binds, which for the cluster's veth address goes to this
machine's resolver, off the machine. Tests send nothing off the machine, so this one skips it.
"""

from __future__ import annotations

import socketserver
import threading
from http.server import ThreadingHTTPServer


class LocalHTTPServer(ThreadingHTTPServer):
    """Also serves from a thread of its own: start(), then stop() once done."""

    _thread: threading.Thread | None = None

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)  # the address itself: no reverse lookup
        self.server_port = int(port)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for serve_forever, which must be running
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()
