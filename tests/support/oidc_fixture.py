#!/usr/bin/env python3
"""An OpenID provider's HTTP endpoints for the tests of portico::oidc::Client, over HTTPS on
127.0.0.1 (Python's http.server and ssl). It serves what the test put in DIR, re-read at each
request so that a test can rotate keys:

  GET  /.well-known/openid-configuration   the endpoints below, issuer https://127.0.0.1:PORT
                                           (DIR/issuer overrides the issuer it names)
  GET  /jwks                               DIR/jwks.json (each fetch appends a line to DIR/jwks.log)
  POST /token                              DIR/token.json for code=good-code, else 400 invalid_grant;
                                           the request (Authorization and body) into DIR/token.log
  GET  /userinfo                           DIR/userinfo.json for "Authorization: Bearer at-1"

  oidc_fixture.py --dir DIR --cert CERT --key KEY      prints "fixture: listening on PORT"
"""
import argparse
import http.server
import os
import ssl
import urllib.parse


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    a = p.parse_args()

    def read(name):
        with open(os.path.join(a.dir, name), "rb") as f:
            return f.read()

    def log(name, text):
        with open(os.path.join(a.dir, name), "a") as f:
            f.write(text + "\n")

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body, kind="application/json"):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            base = f"https://127.0.0.1:{self.server.server_port}"
            if self.path == "/.well-known/openid-configuration":
                issuer = read("issuer").decode().strip() if os.path.exists(
                    os.path.join(a.dir, "issuer")) else base
                doc = ('{"issuer":"%s","authorization_endpoint":"%s/authorize",'
                       '"token_endpoint":"%s/token","userinfo_endpoint":"%s/userinfo",'
                       '"jwks_uri":"%s/jwks"}') % (issuer, base, base, base, base)
                return self.answer(200, doc.encode())
            if self.path == "/jwks":
                log("jwks.log", "fetched")
                return self.answer(200, read("jwks.json"))
            if self.path == "/userinfo":
                if self.headers.get("Authorization") != "Bearer at-1":
                    return self.answer(401, b'{"error":"invalid_token"}')
                return self.answer(200, read("userinfo.json"))
            self.answer(404, b'{"error":"not_found"}')

        def do_POST(self):
            if self.path != "/token":
                return self.answer(404, b'{"error":"not_found"}')
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            log("token.log", f"{self.headers.get('Authorization')} {body}")
            form = urllib.parse.parse_qs(body)
            if form.get("code") != ["good-code"]:
                return self.answer(400, b'{"error":"invalid_grant"}')
            self.answer(200, read("token.json"))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(a.cert, a.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(f"fixture: listening on {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
