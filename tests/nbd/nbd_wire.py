"""NBD spoken by hand, for tests that need what no real client sends:
malformed messages (hostile_client.py) or many requests written at once
before any reply is read (device_gone.sh)."""
import socket
import struct

NBDMAGIC, IHAVEOPT = 0x4E42444D41474943, 0x49484156454F5054
REPLY_MAGIC = 0x3E889045565A9
REQ_MAGIC, SIMPLE_MAGIC = 0x25609513, 0x67446698
OPT_EXPORT_NAME, OPT_GO, OPT_STRUCTURED = 1, 7, 8
REP_ACK, REP_INFO = 1, 3
ERR_UNSUP, ERR_INVALID, ERR_UNKNOWN, ERR_TOO_BIG = (0x80000000 | n for n in (1, 3, 6, 9))
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_BLOCK_STATUS = 0, 1, 2, 3, 7
EPERM, EIO, EINVAL = 1, 5, 22


class Client:
    def __init__(self, path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(timeout)
        self.s.connect(path)

    def recv(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError("server closed after %d of %d bytes" % (len(b), n))
            b += c
        return b

    def greet(self, flags=1):
        magic, opt, _ = struct.unpack(">QQH", self.recv(18))
        assert (magic, opt) == (NBDMAGIC, IHAVEOPT)
        self.s.sendall(struct.pack(">I", flags))

    def option(self, opt, data=b"", length=None):
        n = len(data) if length is None else length
        self.s.sendall(struct.pack(">QII", IHAVEOPT, opt, n) + data)

    def reply(self):
        magic, opt, typ, n = struct.unpack(">QIII", self.recv(20))
        assert magic == REPLY_MAGIC, hex(magic)
        return opt, typ, self.recv(n)

    def go(self, name=b"disk"):
        self.option(OPT_GO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
        while True:
            _, typ, _ = self.reply()
            if typ != REP_INFO:
                return typ

    def request(self, cmd, offset, length, handle=1, flags=0, payload=b""):
        self.s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, flags, cmd, handle, offset, length) + payload)

    def simple_reply(self):
        magic, err, handle = struct.unpack(">IIQ", self.recv(16))
        assert magic == SIMPLE_MAGIC, hex(magic)
        return err, handle

    def expect_closed(self, within=5):
        self.s.settimeout(within)
        try:
            while self.s.recv(4096):
                pass
        except ConnectionResetError:
            pass

    def close(self):
        self.s.close()
