#!/usr/bin/env python3
"""Attack connections for the soak (stdlib only).

  attacks.py --port P --tls-port Q --duration 600 --rate 0.5 --out attacks.jsonl

Opens attack connections at RATE per second (Poisson-ish, one thread each,
at most --max-open at once) for DURATION seconds, each playing one attack
chosen in turn from ATTACKS, and writes one JSON line per connection: the
attack, how it ended (closed by the server, GOAWAY code, still open at its
own deadline) and how long it lasted. An attack never waits longer than
--hold seconds; a server that has not closed it by then is recorded as
"held" (the soak reports them; a slowloris-type attack is expected to be
cut by the server's own timeouts, 10 s by default).
"""

import argparse
import json
import random
import socket
import ssl
import struct
import sys
import threading
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0, 1, 2, 3, 4, 6, 7, 8, 9)
END_STREAM, END_HEADERS, PADDED = 0x1, 0x4, 0x8


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def lit(name, value):
    """A literal field without indexing, new name, no Huffman (RFC 7541 §6.2.2)."""
    def n(v):
        assert len(v) < 127
        return bytes([len(v)]) + v
    return b"\x00" + n(name) + n(value)


def get_block(path=b"/hello/soak", authority=b"localhost"):
    return (lit(b":method", b"GET") + lit(b":scheme", b"http") + lit(b":authority", authority)
            + lit(b":path", path))


def post_block(path=b"/echo"):
    return (lit(b":method", b"POST") + lit(b":scheme", b"http") + lit(b":authority", b"localhost")
            + lit(b":path", path))


class Conn:
    def __init__(self, port, tls_port, use_tls, hold):
        self.deadline = time.monotonic() + hold
        raw = socket.create_connection(("127.0.0.1", tls_port if use_tls else port), timeout=5)
        if use_tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            raw = ctx.wrap_socket(raw, server_hostname="localhost")
        self.s = raw
        self.buf = b""
        self.goaway = None

    def send(self, b):
        self.s.sendall(b)

    def h2_start(self):
        # Our SETTINGS, and the ACK of the server's in advance: attacks must
        # be stopped by their own defences, not by a SETTINGS timeout.
        self.send(PREFACE + frame(SETTINGS, 0, 0) + frame(SETTINGS, 1, 0))

    def pump(self, until=None):
        """Reads (and drops) what the server sends until it closes or our
        deadline (or `until`); notes a GOAWAY. True when closed."""
        end = min(self.deadline, until) if until else self.deadline
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return False
            self.s.settimeout(min(left, 1.0))
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionError, ssl.SSLError, OSError):
                return True
            if not d:
                return True
            self.buf = (self.buf + d)[-65536:]
            self._scan()

    def _scan(self):
        i = self.buf.find(b"\x07\x00\x00\x00\x00\x00")  # GOAWAY header, stream 0
        if i >= 3 and self.goaway is None and len(self.buf) >= i + 6 + 8:
            self.goaway = struct.unpack(">I", self.buf[i + 10:i + 14])[0]

    def try_send(self, b):
        try:
            self.send(b)
            return True
        except (ConnectionError, ssl.SSLError, OSError):
            return False

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


# Each attack sends what it sends and returns True when the server closed
# the connection (it may also just have to be bounded, e.g. ping floods
# answered at the reader's pace).

def continuation_flood(c):
    c.h2_start()
    c.try_send(frame(HEADERS, 0, 1, get_block()))
    chunk = frame(CONTINUATION, 0, 1) * 1000
    for _ in range(100):
        if not c.try_send(chunk):
            break
    return c.pump()


def empty_data_flood(c):
    c.h2_start()
    c.try_send(frame(HEADERS, END_HEADERS, 1, post_block()))
    chunk = frame(DATA, 0, 1) * 1000
    for _ in range(100):
        if not c.try_send(chunk):
            break
    return c.pump()


def rapid_reset(c):
    c.h2_start()
    out = bytearray()
    for i in range(2000):
        sid = 2 * i + 1
        out += frame(HEADERS, END_HEADERS | END_STREAM, sid, get_block())
        out += frame(RST, 0, sid, struct.pack(">I", 8))
    c.try_send(bytes(out))
    return c.pump()


def ping_flood_no_read(c):
    c.h2_start()
    ping = frame(PING, 0, 0, b"12345678") * 1000
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        c.s.settimeout(1)
        try:
            c.send(ping)
        except (socket.timeout, ConnectionError, ssl.SSLError, OSError):
            break
    return c.pump()


def settings_flood(c):
    c.h2_start()
    chunk = frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 65535)) * 1000
    for _ in range(50):
        if not c.try_send(chunk):
            break
    return c.pump()


def half_headers(c):
    # A header block that never ends.
    c.h2_start()
    c.try_send(frame(HEADERS, 0, 1, get_block()))
    return c.pump()


def zero_window_dribble(c):
    # Asks for a large body with a 1-byte window and never opens it.
    c.send(PREFACE + frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 1)) + frame(SETTINGS, 1, 0))
    c.try_send(frame(HEADERS, END_HEADERS | END_STREAM, 1, get_block(b"/bytes/10000000")))
    return c.pump()


def slowloris_h1(c):
    head = b"GET /hello/soak HTTP/1.1\r\nhost: localhost\r\nx-a: "
    for b in head:
        if not c.try_send(bytes([b])):
            return True
        if c.pump(until=time.monotonic() + 0.5):
            return True
    while time.monotonic() < c.deadline:
        if not c.try_send(b"a"):
            return True
        if c.pump(until=time.monotonic() + 1):
            return True
    return False


def smuggle_cl_te(c):
    c.try_send(b"POST /echo HTTP/1.1\r\nhost: localhost\r\ncontent-length: 4\r\n"
               b"transfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nhost: x\r\n\r\n")
    return c.pump()


def huge_headers_h1(c):
    c.try_send(b"GET /hello/soak HTTP/1.1\r\nhost: localhost\r\n" + b"x-big: " + b"v" * 100_000 + b"\r\n\r\n")
    return c.pump()


def garbage(c):
    c.try_send(bytes(random.getrandbits(8) for _ in range(4096)))
    return c.pump()


ATTACKS = [
    ("continuation_flood", False, continuation_flood),
    ("empty_data_flood", False, empty_data_flood),
    ("rapid_reset", False, rapid_reset),
    ("ping_flood_no_read", True, ping_flood_no_read),
    ("settings_flood", False, settings_flood),
    ("half_headers", True, half_headers),
    ("zero_window_dribble", False, zero_window_dribble),
    ("slowloris_h1", False, slowloris_h1),
    ("smuggle_cl_te", False, smuggle_cl_te),
    ("huge_headers_h1", False, huge_headers_h1),
    ("garbage", False, garbage),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls-port", type=int, required=True)
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--rate", type=float, default=0.5, help="attack connections per second")
    ap.add_argument("--hold", type=float, default=75, help="longest an attack waits for the server")
    ap.add_argument("--max-open", type=int, default=64)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    out = open(a.out, "w")
    lock = threading.Lock()
    open_now = threading.Semaphore(a.max_open)

    def run(name, tls, fn):
        start = time.monotonic()
        rec = {"attack": name, "tls": tls}
        try:
            c = Conn(a.port, a.tls_port, tls, a.hold)
        except OSError as e:
            rec.update(result="connect failed", error=str(e))
        else:
            try:
                closed = fn(c)
                rec["result"] = "closed by server" if closed else "held"
                if c.goaway is not None:
                    rec["goaway"] = c.goaway
            except Exception as e:  # a failure of the attacker, not the server
                rec.update(result="attacker error", error=repr(e))
            finally:
                c.close()
        rec["seconds"] = round(time.monotonic() - start, 2)
        with lock:
            out.write(json.dumps(rec) + "\n")
            out.flush()
        open_now.release()

    end = time.monotonic() + a.duration
    threads = []
    i = 0
    while time.monotonic() < end:
        time.sleep(random.expovariate(a.rate))
        if time.monotonic() >= end:
            break
        if not open_now.acquire(timeout=1):
            continue
        name, tls, fn = ATTACKS[i % len(ATTACKS)]
        i += 1
        t = threading.Thread(target=run, args=(name, tls, fn), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(timeout=a.hold + 5)
    out.close()


if __name__ == "__main__":
    sys.exit(main())
