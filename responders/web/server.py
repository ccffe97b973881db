"""Run the validation services under uvicorn (uvloop event loop, httptools parser)."""

from __future__ import annotations

from types import FrameType

import uvicorn

from responders.web.asgi import ValidationApp
from responders.web.runtime import RuntimeConfig


class ServerStartError(RuntimeError):
    """The server never started; uvicorn has logged why."""


class _QuietExitServer(uvicorn.Server):
    """A signal is a request to stop, and stopping after a clean shutdown is success:
    exit 0 rather than re-raising the signal as uvicorn does after its shutdown."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def serve(config: RuntimeConfig, *, host: str, port: int, workers: int = 1) -> None:
    """Blocks until SIGINT/SIGTERM; uvicorn then runs lifespan shutdown, which flushes logs.

    Several workers share the port (SO_REUSEPORT-style, via uvicorn's supervisor);
    each builds its own runtime from the configuration passed in the environment.
    """
    if workers < 1:
        raise ValueError("--workers must be at least 1")
    common = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "on",
        "access_log": False,  # certsight writes its own, with the LAKE's fields
        "proxy_headers": False,  # a spoofed X-Forwarded-For must not become the client IP
        "server_header": False,
        "timeout_keep_alive": 30,
        # No "limit_concurrency": uvicorn counts open connections against it too, so idle
        # keep-alive clients would get bare 503s. The app caps requests in flight itself
        # (asgi.MAX_IN_FLIGHT) and answers OCSP beyond it with tryLater.
        "log_level": "warning",
    }
    if workers == 1:
        server = _QuietExitServer(uvicorn.Config(ValidationApp(config), **common))  # type: ignore[arg-type]
        server.run()
        if not server.started:  # port taken, or the runtime could not be built
            raise ServerStartError(f"could not start on {host}:{port}; the reason is above")
    else:
        config.to_env()
        uvicorn.run("responders.web.asgi:create_app", factory=True, workers=workers, **common)  # type: ignore[arg-type]
