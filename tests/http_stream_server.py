"""A test HTTP camera: Debian's ffmpeg streams a file as MJPEG or MPEG-TS to every client.

``ffmpeg -listen 1`` serves one client and exits, leaving the port closed until it is restarted;
a real camera serves many clients and keeps its port open. This small front end listens on the
port and starts one ``ffmpeg -re -stream_loop -1 ... pipe:1`` per GET, copying its output to the
client, so reconnects and reachability probes behave as with a real camera. Stdlib only::

    python tests/http_stream_server.py --port 8080 --video clip.mp4 --format mjpeg

Streams are served at any path. Killing the process group kills the per-client ffmpegs too.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FORMATS = {
    # format -> (ffmpeg output args, Content-Type)
    "mjpeg": (
        ["-c:v", "mjpeg", "-q:v", "5", "-f", "mpjpeg"],
        "multipart/x-mixed-replace;boundary=ffmpeg",
    ),
    "mpegts": (["-c:v", "copy", "-f", "mpegts"], "video/mp2t"),
}


def _handler(ffmpeg: str, video: str, fmt: str) -> type[BaseHTTPRequestHandler]:
    out_args, content_type = FORMATS[fmt]
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-re"]
    cmd += ["-stream_loop", "-1", "-i", video, "-an", *out_args, "pipe:1"]

    class StreamHandler(BaseHTTPRequestHandler):
        """Streams a fresh ffmpeg encode of the clip to each GET until the client leaves."""

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
            try:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                assert proc.stdout is not None
                while chunk := proc.stdout.read1(65536):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client left
            finally:
                proc.kill()
                proc.wait()
                if proc.stdout is not None:
                    proc.stdout.close()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return  # keep test output quiet

    return StreamHandler


def main(argv: list[str] | None = None) -> int:
    """Serve ``--video`` as ``--format`` on 127.0.0.1:``--port`` until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--video", required=True)
    parser.add_argument("--format", choices=sorted(FORMATS), default="mjpeg")
    args = parser.parse_args(argv)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        print("http_stream_server: ffmpeg not found", file=sys.stderr)
        return 2
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.port), _handler(ffmpeg, args.video, args.format)
    )
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"http_stream_server: listening on 127.0.0.1:{args.port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
