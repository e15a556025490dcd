"""Speaks malformed NBD at the server, then checks a good client still works.

usage: hostile_client.py SOCKET CAPPED_SOCKET
SOCKET's server runs with --handshake-timeout 1 and serves the volume "disk"
(16 MiB), its snapshot "disk@snap" and the layer "layer:base";
CAPPED_SOCKET's with --max-connections 2.
"""
import struct
import sys
import time

from nbd_wire import (CMD_BLOCK_STATUS, CMD_DISC, CMD_READ, CMD_WRITE, EINVAL, EPERM,
                      ERR_INVALID, ERR_TOO_BIG, ERR_UNKNOWN, ERR_UNSUP, IHAVEOPT,
                      OPT_EXPORT_NAME, OPT_GO, OPT_STRUCTURED, REP_ACK, REQ_MAGIC, Client)

SOCK, CAPPED = sys.argv[1], sys.argv[2]


def good_client(path=SOCK):
    c = Client(path)
    c.greet()
    assert c.go() == REP_ACK
    c.request(CMD_WRITE, 4096, 512, handle=7, payload=b"\x42" * 512)
    assert c.simple_reply() == (0, 7)
    c.request(CMD_READ, 4096, 512, handle=8)
    assert c.simple_reply() == (0, 8)
    assert c.recv(512) == b"\x42" * 512
    c.request(CMD_DISC, 0, 0)
    c.close()


def case(name):
    def wrap(fn):
        fn()
        good_client()
        print("ok", name)
    return wrap


@case("bad greeting reply flags")
def _():
    c = Client(SOCK); c.greet(flags=0x80); c.expect_closed()


@case("bad option magic")
def _():
    c = Client(SOCK); c.greet(); c.s.sendall(b"X" * 16); c.expect_closed()


@case("unknown option then go")
def _():
    c = Client(SOCK); c.greet()
    c.option(99, b"abc")
    assert c.reply()[1] == ERR_UNSUP
    assert c.go() == REP_ACK
    c.close()


@case("oversized option is skipped")
def _():
    c = Client(SOCK); c.greet()
    c.option(99, b"\0" * 100000)
    assert c.reply()[1] == ERR_TOO_BIG
    c.option(OPT_STRUCTURED)
    assert c.reply()[1] == REP_ACK
    assert c.go() == REP_ACK
    c.close()


@case("huge option length disconnects")
def _():
    c = Client(SOCK); c.greet(); c.option(99, b"", length=0xFFFFFFFF); c.expect_closed()


@case("export name with NUL, too long, unknown")
def _():
    c = Client(SOCK); c.greet()
    assert c.go(b"di\0sk") == ERR_INVALID
    assert c.go(b"d" * 5000) in (ERR_INVALID, ERR_TOO_BIG)
    assert c.go(b"nosuch") == ERR_UNKNOWN
    assert c.go() == REP_ACK
    c.close()


@case("names the store cannot resolve are unknown, read-only ones refuse writes")
def _():
    c = Client(SOCK); c.greet()
    for name in (b"disk@", b"disk@nosuch", b"@snap", b"layer:", b"layer:nosuch",
                 b"../disk", b"disk/", b"layer:../base", b"nosuch@snap", b"disk@snap@snap"):
        assert c.go(name) in (ERR_UNKNOWN, ERR_INVALID), name
    for name in (b"disk@snap", b"layer:base"):
        c = Client(SOCK); c.greet()
        assert c.go(name) == REP_ACK, name
        c.request(CMD_WRITE, 0, 512, handle=1, payload=b"w" * 512)
        assert c.simple_reply() == (EPERM, 1), name
        c.request(CMD_READ, 0, 512, handle=2)
        assert c.simple_reply() == (0, 2), name
        c.recv(512)
        c.close()


@case("truncated GO option")
def _():
    c = Client(SOCK); c.greet()
    c.option(OPT_GO, struct.pack(">I", 100) + b"disk")
    assert c.reply()[1] == ERR_INVALID
    c.close()


@case("EXPORT_NAME with NUL disconnects")
def _():
    c = Client(SOCK); c.greet(); c.option(OPT_EXPORT_NAME, b"di\0sk"); c.expect_closed()


@case("EXPORT_NAME works")
def _():
    c = Client(SOCK); c.greet(flags=3)  # fixed newstyle + no zeroes
    c.option(OPT_EXPORT_NAME, b"disk")
    size, flags = struct.unpack(">QH", c.recv(10))
    assert size == 16 << 20 and flags & 1
    c.request(CMD_READ, 0, 512, handle=3)
    assert c.simple_reply() == (0, 3)
    c.recv(512)
    c.close()


@case("bad request magic disconnects")
def _():
    c = Client(SOCK); c.greet(); c.go()
    c.s.sendall(b"\xde\xad\xbe\xef" + b"\0" * 24)
    c.expect_closed()


@case("invalid requests get EINVAL and the connection goes on")
def _():
    c = Client(SOCK); c.greet(); c.go()
    c.request(99, 0, 512, handle=1)                       # unknown command
    assert c.simple_reply() == (EINVAL, 1)
    c.request(CMD_READ, 0, 512, handle=2, flags=0x40)     # unknown flag
    assert c.simple_reply() == (EINVAL, 2)
    c.request(CMD_READ, 0, 0, handle=3)                   # zero length
    assert c.simple_reply() == (EINVAL, 3)
    c.request(CMD_READ, (1 << 64) - 512, 1024, handle=4)  # offset overflow
    assert c.simple_reply() == (EINVAL, 4)
    c.request(CMD_READ, 0, 64 << 20, handle=5)            # read over 32 MiB
    assert c.simple_reply() == (EINVAL, 5)
    c.request(CMD_BLOCK_STATUS, 0, 512, handle=6)         # no meta context
    assert c.simple_reply() == (EINVAL, 6)
    c.request(CMD_WRITE, 16 << 20, 512, handle=7, payload=b"z" * 512)  # past end
    assert c.simple_reply() == (28, 7)
    c.request(CMD_READ, 0, 512, handle=8)
    assert c.simple_reply() == (0, 8)
    c.recv(512)
    c.close()


@case("huge write payload: EINVAL and disconnect, nothing allocated")
def _():
    c = Client(SOCK); c.greet(); c.go()
    c.request(CMD_WRITE, 0, 0xFFFFFFFF, handle=9)
    assert c.simple_reply() == (EINVAL, 9)
    c.expect_closed()


@case("half a request header, then close")
def _():
    c = Client(SOCK); c.greet(); c.go()
    c.s.sendall(struct.pack(">IHH", REQ_MAGIC, 0, CMD_READ))
    c.close()


@case("half a write payload, then close")
def _():
    c = Client(SOCK); c.greet(); c.go()
    c.request(CMD_WRITE, 0, 65536, payload=b"x" * 1000)
    c.close()


@case("close with replies pending")
def _():
    c = Client(SOCK); c.greet(); c.go()
    for i in range(64):
        c.request(CMD_READ, i * 65536, 65536, handle=i)
    c.close()


@case("handshake that never finishes is closed after the timeout")
def _():
    c = Client(SOCK); c.recv(18)
    start = time.monotonic()
    c.expect_closed(within=5)
    took = time.monotonic() - start
    assert 0.5 < took < 4, took


@case("byte-at-a-time handshake is closed after the timeout")
def _():
    c = Client(SOCK); c.greet()
    start = time.monotonic()
    try:
        for b in struct.pack(">QII", IHAVEOPT, 99, 4000):
            c.s.send(bytes([b]))
            time.sleep(0.3)
        for _ in range(20):
            c.s.send(b"x")
            time.sleep(0.3)
        raise AssertionError("slow client never cut off")
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert time.monotonic() - start < 5


@case("connection cap")
def _():
    held = []
    for _ in range(2):
        c = Client(CAPPED); c.greet(); assert c.go() == REP_ACK; held.append(c)
    extra = Client(CAPPED)
    try:
        extra.recv(18)
        raise AssertionError("third connection was served")
    except (EOFError, ConnectionResetError):
        pass
    held.pop().close()
    for _ in range(50):  # the server notices the close asynchronously
        try:
            good_client(CAPPED)
            break
        except (EOFError, ConnectionResetError, BrokenPipeError):
            time.sleep(0.05)
    else:
        raise AssertionError("cap not released")
    for c in held:
        c.close()

print("hostile client checks passed")
