"""A minimal RTSP camera for tests: GStreamer's RTSP server streaming an H.264 mp4 from disk.

Run it with the system interpreter, which has ``gi`` (Debian ``python3-gi``)::

    RTSP_PASSWORD=secret /usr/bin/python3 tests/rtsp_server.py --port 8554 --video clip.mp4 \
        --user admin

Each client gets its own pipeline (``filesrc ! qtdemux ! h264parse ! rtph264pay``), so a client
that reconnects starts at the beginning of the clip. With ``--user``, clients must send that user
and the password from the ``RTSP_PASSWORD`` environment variable (kept off the command line).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def _factory(video: str, path_role: bool) -> GstRtspServer.RTSPMediaFactory:
    """A per-client media factory for the clip; with auth, only the ``user`` role may play it."""
    factory = GstRtspServer.RTSPMediaFactory()
    location = video.replace("\\", "\\\\").replace('"', '\\"')
    factory.set_launch(
        f'( filesrc location="{location}" ! qtdemux ! h264parse '
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(False)
    if path_role:
        role = Gst.Structure.new_from_string(
            "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        )
        factory.add_role_from_structure(role)
    return factory


def _auth(user: str, password: str) -> GstRtspServer.RTSPAuth:
    """Basic auth that grants the ``user`` role to one user/password pair."""
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    return auth


def main(argv: list[str] | None = None) -> int:
    """Serve ``--video`` at ``rtsp://127.0.0.1:PORT/PATH`` until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--video", required=True)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--user", default=None, help="require basic auth (password: RTSP_PASSWORD)")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.video):
        print(f"rtsp_server: no such video: {args.video}", file=sys.stderr)
        return 2

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    if args.user:
        server.set_auth(_auth(args.user, os.environ.get("RTSP_PASSWORD", "")))
    server.get_mount_points().add_factory(args.path, _factory(args.video, bool(args.user)))
    if server.attach(None) == 0:
        print(f"rtsp_server: cannot listen on port {args.port}", file=sys.stderr)
        return 1

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"rtsp_server: listening on 127.0.0.1:{args.port}{args.path}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
