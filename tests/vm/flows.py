#!/usr/bin/env python3
"""Long-lived TCP flows for the VM scenarios and the benchmark, with per-flow figures.

iperf3 is not used where a line dies under its flows: its control connection is one more
hashed flow, and when it happens to be on the dead line the whole test is lost.

  flows.py serve ADDR PORT PEERS_FILE
      Accepts connections and sends to each as fast as it takes them; appends
      "PEER_ADDR PEER_PORT" of each connection to PEERS_FILE (the line a LAN flow took is
      the masquerade address the server sees).
  flows.py run ADDR PORT N SECS OUT_JSON
      Opens N connections (each its own source port, so the L4 hash spreads them), reads for
      SECS seconds and writes {"t0": epoch, "ports": [...], "seconds": [[bytes per flow], ...]}:
      bytes each flow received in each whole second from t0.
  flows.py report RUN_JSON PEERS_FILE SINCE
      Per flow of a run, one line "LINE PORT IDLE BEFORE AFTER LAST3": the line (the peer
      address the server saw for the flow's port, "?" if none), the whole seconds from epoch
      SINCE on without a byte, the mean bytes a second before SINCE (second 0, slow start,
      left out) and from SINCE on, and the bytes of the last 3 seconds.
"""
import json
import selectors
import socket
import sys
import threading
import time


def serve(addr, port, peers_file):
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((addr, port))
    lsock.listen(64)
    chunk = b"x" * 65536

    def feed(conn):
        try:
            while True:
                conn.sendall(chunk)
        except OSError:
            pass
        finally:
            conn.close()

    while True:
        conn, peer = lsock.accept()
        with open(peers_file, "a") as f:
            f.write(f"{peer[0]} {peer[1]}\n")
        threading.Thread(target=feed, args=(conn,), daemon=True).start()


def run(addr, port, n, secs, out):
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(n):
        s = socket.create_connection((addr, port), timeout=10)
        s.setblocking(False)
        socks.append(s)
        sel.register(s, selectors.EVENT_READ, len(socks) - 1)
    ports = [s.getsockname()[1] for s in socks]
    t0 = time.time()
    seconds = [[0] * n for _ in range(int(secs))]
    closed = set()
    while True:
        now = time.time()
        sec = int(now - t0)
        if sec >= secs:
            break
        for key, _ in sel.select(timeout=0.2):
            i = key.data
            try:
                data = key.fileobj.recv(262144)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(key.fileobj)
                closed.add(i)
                continue
            sec = int(time.time() - t0)
            if sec < secs:
                seconds[sec][i] += len(data)
    for s in socks:
        s.close()
    with open(out, "w") as f:
        json.dump({"t0": t0, "ports": ports, "closed": sorted(closed), "seconds": seconds}, f)


def report(run_json, peers_file, since):
    with open(run_json) as f:
        run = json.load(f)
    line = {}
    with open(peers_file) as f:
        for entry in f:
            addr, port = entry.split()
            line[int(port)] = addr
    t0, seconds = run["t0"], run["seconds"]
    for i, port in enumerate(run["ports"]):
        before = [s[i] for k, s in enumerate(seconds) if k >= 1 and t0 + k + 1 <= since]
        after = [s[i] for k, s in enumerate(seconds) if t0 + k >= since]
        idle = sum(1 for b in after if b == 0)
        mean = lambda xs: sum(xs) // len(xs) if xs else 0
        last3 = sum(s[i] for s in seconds[-3:])
        print(line.get(port, "?"), port, idle, mean(before), mean(after), last3)


def main(argv):
    if len(argv) == 5 and argv[1] == "serve":
        serve(argv[2], int(argv[3]), argv[4])
    elif len(argv) == 7 and argv[1] == "run":
        run(argv[2], int(argv[3]), int(argv[4]), int(argv[5]), argv[6])
    elif len(argv) == 5 and argv[1] == "report":
        report(argv[2], argv[3], float(argv[4]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
