#!/usr/bin/env python3
"""Load clients of the benchmark that wrk and h2load do not cover (stdlib only).

  clients.py sse  --port P --clients 1000 --interval-ms 100 --duration 10 --pids 123,124
      SSE fan-out: N HTTP/1.1 clients on GET /sse?interval_ms=I; counts the
      events delivered during DURATION seconds once all are connected, and the
      server's CPU time over the same window.

  clients.py idle --port P --mode tcp|h1|h2c|h2req|h1tls|h2tls --n 10000 --pids 123,124
      Memory per idle connection: opens N connections that completed one
      exchange (tcp: connected, nothing sent; h1: one GET /hello/idle
      answered, kept alive; h2c: client
      preface + SETTINGS, server SETTINGS received and acknowledged; h2req:
      h2c after one answered GET /hello/idle; h1tls, h2tls: h1 and h2c over
      TLS, ALPN http/1.1 and h2, certificate not verified), then
      reports the server's RSS before and after and the delta per connection.

Both print one JSON object on stdout. --pids lists the server's processes
(the main one and its children); their /proc figures are summed.
"""

import argparse
import asyncio
import json
import os
import resource
import select
import selectors
import socket
import ssl
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    """utime + stime of the given processes (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # stat fields 14, 15
        except (OSError, IndexError, ValueError):
            pass
    return ticks / CLK_TCK


def status_kb(pids, key):
    """Sum of a kB field (VmRSS, VmHWM) of /proc/PID/status."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
    return total


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---------------------------------------------------------------- SSE fan-out


class SseClient(asyncio.Protocol):
    """Counts the events of one text/event-stream response: blocks ended by a
    blank line that hold at least one `data` field (comments such as
    keep-alives are not events). Undoes chunked transfer coding first."""

    def __init__(self, stats):
        loop = asyncio.get_running_loop()
        self.stats = stats
        self.head = b""
        self.in_body = False
        self.chunked = False
        self.raw = b""  # undecoded chunked bytes
        self.chunk_left = 0  # data bytes left in the current chunk
        self.crlf_left = 0  # CRLF after a chunk's data still to skip
        self.line = b""  # partial event-stream line
        self.has_data = False
        self.events = 0
        self.ok = False
        self.closed = loop.create_future()
        self.headers_done = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if not self.in_body:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.head[:end].lower()
            self.ok = head.startswith(b"http/1.1 200") or head.startswith(b"http/1.0 200")
            self.chunked = b"\ntransfer-encoding: chunked" in head
            data = self.head[end + 4 :]
            self.in_body = True
            if not self.headers_done.done():
                self.headers_done.set_result(self.ok)
        self.body(self.dechunk(data) if self.chunked else data)

    def dechunk(self, data):
        """RFC 9112 §7.1 chunked coding, without extensions or trailers of note."""
        self.raw += data
        out = []
        while self.raw:
            if self.crlf_left:
                n = min(self.crlf_left, len(self.raw))
                self.raw = self.raw[n:]
                self.crlf_left -= n
            elif self.chunk_left:
                piece = self.raw[: self.chunk_left]
                out.append(piece)
                self.raw = self.raw[len(piece) :]
                self.chunk_left -= len(piece)
                if not self.chunk_left:
                    self.crlf_left = 2
            else:
                eol = self.raw.find(b"\r\n")
                if eol < 0:
                    break
                size = self.raw[:eol].split(b";", 1)[0].strip()
                self.raw = self.raw[eol + 2 :]
                try:
                    self.chunk_left = int(size, 16)
                except ValueError:
                    self.transport.close()
                    break
        return b"".join(out)

    def body(self, data):
        lines = (self.line + data).split(b"\n")
        self.line = lines.pop()
        n = 0
        for line in lines:
            line = line.rstrip(b"\r")
            if not line:
                if self.has_data:
                    n += 1
                    self.has_data = False
            elif line.startswith(b"data"):
                self.has_data = True
        self.events += n
        self.stats["events"] += n

    def connection_lost(self, exc):
        if not self.headers_done.done():
            self.headers_done.set_result(False)
        if not self.closed.done():
            self.closed.set_result(True)


async def sse_main(a):
    loop = asyncio.get_running_loop()
    stats = {"events": 0}
    clients = []
    failed = 0
    sem = asyncio.Semaphore(100)
    req = (
        f"GET /sse?interval_ms={a.interval_ms} HTTP/1.1\r\nHost: {a.host}:{a.port}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    ).encode()

    async def connect():
        nonlocal failed
        async with sem:
            try:
                _, proto = await loop.create_connection(lambda: SseClient(stats), a.host, a.port)
                proto.transport.write(req)
                ok = await asyncio.wait_for(asyncio.shield(proto.headers_done), 10)
            except (OSError, asyncio.TimeoutError):
                failed += 1
                return
            if ok:
                clients.append(proto)
            else:
                failed += 1
                proto.transport.close()

    t0 = time.monotonic()
    await asyncio.gather(*(connect() for _ in range(a.clients)))
    connect_s = time.monotonic() - t0
    await asyncio.sleep(1.0)  # let every client reach its steady state
    e0, c0, w0 = stats["events"], cpu_seconds(a.pids), time.monotonic()
    await asyncio.sleep(a.duration)
    e1, c1, w1 = stats["events"], cpu_seconds(a.pids), time.monotonic()
    dropped = sum(1 for c in clients if c.closed.done())
    for c in clients:
        c.transport.close()
    wall = w1 - w0
    return {
        "clients": a.clients,
        "connected": len(clients),
        "connect_s": round(connect_s, 3),
        "events": e1 - e0,
        "wall_s": round(wall, 3),
        "events_per_s": (e1 - e0) / wall if wall > 0 else 0.0,
        "expected_per_s": len(clients) * 1000.0 / a.interval_ms,
        "cpu_s": c1 - c0,
        "errors": failed + dropped,
    }


# ------------------------------------------------------- idle connections

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_SETTINGS_EMPTY = bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])  # RFC 9113 §6.5
H2_SETTINGS_ACK = bytes([0, 0, 0, 4, 1, 0, 0, 0, 0])


def h2_get(authority):
    """A HEADERS frame (stream 1, END_STREAM | END_HEADERS) for GET
    /hello/idle, in HPACK without Huffman (RFC 7541): :method and :scheme
    indexed, :path, :authority and user-agent literal with incremental
    indexing, so the server's decoder table holds three entries, as it does
    after a browser's or curl's first request."""
    block = bytes([0x82, 0x86])  # :method GET, :scheme http
    for index, value in ((4, b"/hello/idle"), (1, authority.encode()), (58, b"duet-bench-idle")):
        block += bytes([0x40 | index, len(value)]) + value
    return len(block).to_bytes(3, "big") + bytes([1, 0x5, 0, 0, 0, 1]) + block


def h1_done(buf):
    """True once a complete 200 response to GET /hello/idle is in buf."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    if not buf.startswith(b"HTTP/1.1 200"):
        return False
    body = buf[end + 4 :]
    if body.endswith(b"hello") or body.endswith(b"\r\n0\r\n\r\n"):
        return True
    return None


def h2_done(buf):
    """True once the server's (non-ACK) SETTINGS frame is in buf."""
    i = 0
    while len(buf) - i >= 9:
        length = int.from_bytes(buf[i : i + 3], "big")
        ftype, flags = buf[i + 3], buf[i + 4]
        if len(buf) - i - 9 < length:
            return None
        if ftype == 7:  # GOAWAY
            return False
        if ftype == 4 and not flags & 1:
            return True
        i += 9 + length
    return None


def h2_answered(buf):
    """True once the server's SETTINGS and the end of stream 1 are in buf."""
    settings = ended = False
    i = 0
    while len(buf) - i >= 9:
        length = int.from_bytes(buf[i : i + 3], "big")
        ftype, flags = buf[i + 3], buf[i + 4]
        stream = int.from_bytes(buf[i + 5 : i + 9], "big") & 0x7FFFFFFF
        if len(buf) - i - 9 < length:
            break
        if ftype in (3, 7):  # RST_STREAM, GOAWAY
            return False
        if ftype == 4 and not flags & 1:
            settings = True
        if ftype in (0, 1) and stream == 1 and flags & 1:
            ended = True
        i += 9 + length
    return True if settings and ended else None


def open_idle(host, port, mode, n, concurrency=256, timeout=120.0):
    """Opens n connections that completed one exchange; returns (socks, failed)."""
    if mode in TLS_ALPN:
        return open_idle_tls(host, port, mode, n, concurrency, timeout)
    ack = b""
    if mode == "tcp":
        hello, done_fn = b"", None
    elif mode == "h1":
        hello = f"GET /hello/idle HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
        done_fn = h1_done
    elif mode == "h2c":
        hello, done_fn, ack = H2_PREFACE + H2_SETTINGS_EMPTY, h2_done, H2_SETTINGS_ACK
    else:
        hello = H2_PREFACE + H2_SETTINGS_EMPTY + h2_get(f"{host}:{port}")
        done_fn, ack = h2_answered, H2_SETTINGS_ACK
    return open_many(host, port, n, concurrency, timeout, lambda s: PlainConn(s, hello, done_fn, ack))


def open_many(host, port, n, concurrency, timeout, make_conn):
    """What both openers share: up to `concurrency` non-blocking connects at
    a time, each readiness event handed to its connection's advance(sel, ev)
    (None: not finished; True: ready; False: failed; OSError: failed).
    Returns (ready sockets, failed count)."""
    sel = selectors.DefaultSelector()
    ready, failed, started, inflight = [], 0, 0, 0
    deadline = time.monotonic() + timeout
    while (started < n or inflight) and time.monotonic() < deadline:
        while started < n and inflight < concurrency:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((host, port))
            sel.register(s, selectors.EVENT_WRITE, make_conn(s))
            started += 1
            inflight += 1
        for key, ev in sel.select(timeout=1.0):
            c = key.data
            try:
                verdict = c.advance(sel, ev)
            except OSError:
                verdict = False
            if verdict is None:
                continue
            try:
                sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass  # wrap_socket failed after the plain socket left the selector
            inflight -= 1
            if verdict:
                ready.append(c.sock)
            else:
                c.sock.close()
                failed += 1
    for key in list(sel.get_map().values()):
        key.fileobj.close()
        failed += 1
    sel.close()
    return ready, failed


class PlainConn:
    """One cleartext connection being opened: connected -> `hello` sent ->
    answer read until done_fn says so (-> `ack` sent) -> ready. done_fn None:
    connected is enough (mode tcp)."""

    __slots__ = ("sock", "hello", "done_fn", "ack", "buf")

    def __init__(self, sock, hello, done_fn, ack):
        self.sock, self.hello, self.done_fn, self.ack, self.buf = sock, hello, done_fn, ack, b""

    def advance(self, sel, ev):
        if ev & selectors.EVENT_WRITE:
            if self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                return False
            if self.done_fn is None:
                return True
            self.sock.send(self.hello)
            sel.modify(self.sock, selectors.EVENT_READ, self)
            return None
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        verdict = self.done_fn(self.buf)
        if verdict and self.ack:
            self.sock.send(self.ack)
        return verdict


# TLS modes -> the ALPN protocol asked for (and required of the server).
TLS_ALPN = {"h1tls": "http/1.1", "h2tls": "h2"}


class TlsConn:
    """One TLS connection being opened: phase connect -> handshake -> send ->
    recv (-> send the SETTINGS ACK) -> ready. The handshake, send and recv
    are driven by the selector (SSLWantRead/WriteError say which event to
    wait for); a connection whose ALPN result is not `alpn` fails."""

    __slots__ = ("sock", "phase", "out", "buf", "last", "ctx", "alpn", "done_fn", "ack")

    def __init__(self, sock, ctx, alpn, hello, done_fn, ack):
        self.sock, self.phase, self.out, self.buf, self.last = sock, "connect", hello, b"", False
        self.ctx, self.alpn, self.done_fn, self.ack = ctx, alpn, done_fn, ack

    def advance(self, sel, ev):
        try:
            if self.phase == "connect":
                if self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    return False
                # wrap_socket detaches the plain socket: register the TLS one
                # under the same descriptor.
                sel.unregister(self.sock)
                self.sock = self.ctx.wrap_socket(
                    self.sock, server_hostname="localhost", do_handshake_on_connect=False
                )
                sel.register(self.sock, selectors.EVENT_READ, self)
                self.phase = "handshake"
            return self.step()
        except ssl.SSLWantReadError:
            sel.modify(self.sock, selectors.EVENT_READ, self)
        except ssl.SSLWantWriteError:
            sel.modify(self.sock, selectors.EVENT_WRITE, self)
        return None

    def step(self):
        """Advances as far as it goes; True when ready, False when failed,
        raises SSLWantReadError / SSLWantWriteError when it must wait."""
        while True:
            if self.phase == "handshake":
                self.sock.do_handshake()
                if self.sock.selected_alpn_protocol() != self.alpn:
                    return False
                self.phase = "send"
            elif self.phase == "send":
                while self.out:
                    self.out = self.out[self.sock.send(self.out) :]
                if self.last:
                    return True
                self.phase = "recv"
            else:  # recv
                data = self.sock.recv(65536)
                if not data:
                    return False
                self.buf += data
                verdict = self.done_fn(self.buf)
                if verdict is False:
                    return False
                if verdict:
                    self.out, self.last, self.phase = self.ack, True, "send"


def open_idle_tls(host, port, mode, n, concurrency, timeout):
    """open_idle over TLS."""
    alpn = TLS_ALPN[mode]
    if mode == "h1tls":
        hello = f"GET /hello/idle HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
        done_fn, ack = h1_done, b""
    else:
        hello = H2_PREFACE + H2_SETTINGS_EMPTY
        done_fn, ack = h2_done, H2_SETTINGS_ACK
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # self-signed
    ctx.set_alpn_protocols([alpn])
    return open_many(
        host, port, n, concurrency, timeout, lambda s: TlsConn(s, ctx, alpn, hello, done_fn, ack)
    )


def tls_still_open(s):
    """A TLS socket cannot be peeked: poll its descriptor, and if the server
    sent something (or TLS holds decrypted bytes), read it all. An idle server
    sends nothing; a server that closed sent close_notify and/or FIN, which
    reads as b"" (or an SSLError): closed."""
    try:
        p = select.poll()
        p.register(s.fileno(), select.POLLIN)
        events = p.poll(0)
        if not events and not s.pending():
            return True
        if any(ev & (select.POLLERR | select.POLLNVAL) for _, ev in events):
            return False
        while True:
            if not s.recv(65536):
                return False
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return True  # late frames (e.g. a SETTINGS ACK) read; still open
    except (OSError, ValueError):
        return False


def still_open(socks):
    alive = 0
    for s in socks:
        if isinstance(s, ssl.SSLSocket):
            alive += tls_still_open(s)
            continue
        try:
            if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                alive += 1
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive


def idle_main(a):
    limit = raise_nofile()
    if limit < a.n + 64:
        print(f"warning: RLIMIT_NOFILE {limit} < {a.n + 64}", file=sys.stderr)
    # Warm up: the first connections pay for lazily initialised server state.
    warm, _ = open_idle(a.host, a.port, a.mode, 64)
    for s in warm:
        s.close()
    time.sleep(1.0)
    before = status_kb(a.pids, "VmRSS")
    t0 = time.monotonic()
    socks, failed = open_idle(a.host, a.port, a.mode, a.n)
    open_s = time.monotonic() - t0
    time.sleep(a.settle)
    after = status_kb(a.pids, "VmRSS")
    alive = still_open(socks)
    hwm = status_kb(a.pids, "VmHWM")
    for s in socks:
        s.close()
    delta = (after - before) * 1024
    return {
        "mode": a.mode,
        "n": a.n,
        "opened": len(socks),
        "alive": alive,
        "open_s": round(open_s, 3),
        "rss_before_kb": before,
        "rss_after_kb": after,
        "rss_hwm_kb": hwm,
        "bytes_per_conn": delta / alive if alive else None,
        "errors": failed + (len(socks) - alive),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("sse", "idle"):
        q = sub.add_parser(name)
        q.add_argument("--host", default="127.0.0.1")
        q.add_argument("--port", type=int, required=True)
        q.add_argument("--pids", type=lambda s: [int(x) for x in s.split(",") if x], default=[])
    q = sub.choices["sse"]
    q.add_argument("--clients", type=int, default=1000)
    q.add_argument("--interval-ms", type=int, default=100)
    q.add_argument("--duration", type=float, default=10.0)
    q = sub.choices["idle"]
    q.add_argument("--mode", choices=["tcp", "h1", "h2c", "h2req", "h1tls", "h2tls"], required=True)
    q.add_argument("--n", type=int, default=10000)
    q.add_argument("--settle", type=float, default=1.0)
    a = p.parse_args()
    if a.cmd == "sse":
        raise_nofile()
        out = asyncio.run(sse_main(a))
    else:
        out = idle_main(a)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
