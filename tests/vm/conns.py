#!/usr/bin/env python3
"""Many short TCP connections, one after another, for the VM scenarios (issue 26, point 13:
new connections right after a tunnel line comes back).

  conns.py serve ADDR PORT
      Echoes what each connection sends, then closes it.
  conns.py run ADDR PORT N
      Opens N connections one after another, each: connect, send a line, read it back. Prints a
      line for each that failed (where, and the errno's name), then "N connections, F failed".
"""
import errno
import socket
import socketserver
import sys


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            self.request.sendall(self.request.recv(100))
        except OSError:
            pass


def serve(addr, port):
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer((addr, port), Echo).serve_forever()


def run(addr, port, n):
    failed = 0
    for i in range(n):
        stage = "connect"
        with socket.socket() as s:
            s.settimeout(6)
            try:
                s.connect((addr, port))
                stage = "send"
                s.sendall(b"hello\n")
                stage = "recv"
                got = s.recv(100)
                if got != b"hello\n":
                    raise OSError(0, "reply %r" % got)
            except OSError as e:
                failed += 1
                print("connection %d failed at %s: %s" % (i + 1, stage, errno.errorcode.get(e.errno, e)))
    print("%d connections, %d failed" % (n, failed))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 5 and sys.argv[1] == "run":
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)
