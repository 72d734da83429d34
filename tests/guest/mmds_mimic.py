#!/usr/bin/env python3
"""A stand-in for Firecracker's MMDS V2 on the host side of a TAP (run_qemu_net.sh): PUT /latest/api/token
with X-metadata-token-ttl-seconds (1..21600) returns a token; GET needs X-metadata-token (401 without or with
a wrong one); IMDS text output by default, JSON with Accept: application/json. Proves net-mmds speaks plain
HTTP/1.1 over TCP to a real host stack."""
import argparse
import json
import secrets
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

STORE = {"latest": {"meta-data": {"ami-id": "ami-12345678", "reservation-id": "r-fea54097",
                                  "local-hostname": "ip-10-251-50-12.ec2.internal"}}}
tokens = {}


def imds(value):
    if isinstance(value, dict):
        return "\n".join(k + "/" if isinstance(v, dict) else k for k, v in value.items())
    return value if isinstance(value, str) else json.dumps(value)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, code, body, ctype="text/plain"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        if self.path != "/latest/api/token":
            return self.reply(400, "Invalid request")
        try:
            ttl = int(self.headers.get("X-metadata-token-ttl-seconds", ""))
        except ValueError:
            return self.reply(400, "Token time to live value not found.")
        if not 1 <= ttl <= 21600:
            return self.reply(400, "Invalid time to live value provided for token: %d." % ttl)
        token = secrets.token_urlsafe(32)
        tokens[token] = time.monotonic() + ttl
        self.reply(200, token)

    def do_GET(self):
        tok = self.headers.get("X-metadata-token")
        if tok is None or tokens.get(tok, 0) < time.monotonic():
            return self.reply(401, "Unauthorized")
        node = STORE
        for part in [p for p in self.path.split("/") if p]:
            if not isinstance(node, dict) or part not in node:
                return self.reply(404, "Resource not found: %s." % self.path)
            node = node[part]
        if "application/json" in self.headers.get("Accept", ""):
            return self.reply(200, json.dumps(node), "application/json")
        self.reply(200, imds(node))

    def log_message(self, fmt, *args):
        print("mmds-mimic:", fmt % args, flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", default="169.254.169.254")
    ap.add_argument("--port", type=int, default=80)
    a = ap.parse_args()
    try:
        HTTPServer((a.bind, a.port), Handler).serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)
