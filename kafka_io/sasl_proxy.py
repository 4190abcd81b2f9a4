"""A user-side proxy that logs a credential-less Kafka client in with SASL SCRAM-SHA-512.

Why: fink-client 12.3's ``finkctl transfer`` builds its consumer from ``servers`` and
``groupid`` only, so it cannot authenticate to a SCRAM listener. Run on the user's machine,
``fink-transfer kafka-proxy`` listens on loopback; each client connection is opened upstream,
authenticated as the user (SaslHandshake + SaslAuthenticate, RFC 5802), then relayed byte for byte,
except that broker addresses in Metadata and FindCoordinator responses are replaced by local
proxy ports (one per broker), so the client never talks to a broker directly. The broker's ACLs
apply to the user, exactly as for a client that speaks SASL itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import struct
import threading

from engine.errors import UserError

METADATA, FIND_COORDINATOR, SASL_HANDSHAKE, SASL_AUTHENTICATE = 3, 10, 17, 36


# ----------------------------------------------------------------------------- wire helpers

def _recv_exact(sock, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return bytes(buf)


def _recv_frame(sock) -> bytes:
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    return _recv_exact(sock, size)


def _send_frame(sock, payload: bytes) -> None:
    sock.sendall(struct.pack(">i", len(payload)) + payload)


def _string(s: str | None) -> bytes:
    if s is None:
        return struct.pack(">h", -1)
    raw = s.encode()
    return struct.pack(">h", len(raw)) + raw


def _uvarint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def _enc_uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class _Reader:
    """Reads fields of a response body, remembering where each host/port pair sits."""

    def __init__(self, data: bytes, i: int, flexible: bool):
        self.data, self.i, self.flexible = data, i, flexible

    def int16(self):
        (v,) = struct.unpack_from(">h", self.data, self.i)
        self.i += 2
        return v

    def int32(self):
        (v,) = struct.unpack_from(">i", self.data, self.i)
        self.i += 4
        return v

    def string(self):
        if self.flexible:
            n, self.i = _uvarint(self.data, self.i)
            n -= 1
        else:
            n = self.int16()
        if n < 0:
            return None
        s = self.data[self.i:self.i + n].decode()
        self.i += n
        return s

    def array_len(self):
        if self.flexible:
            n, self.i = _uvarint(self.data, self.i)
            return n - 1
        return self.int32()

    def tags(self):
        if self.flexible:
            count, self.i = _uvarint(self.data, self.i)
            for _ in range(count):
                _tag, self.i = _uvarint(self.data, self.i)
                size, self.i = _uvarint(self.data, self.i)
                self.i += size


def _enc_string(s: str, flexible: bool) -> bytes:
    raw = s.encode()
    return (_enc_uvarint(len(raw) + 1) if flexible else struct.pack(">h", len(raw))) + raw


def _rewrite_endpoints(body: bytes, start: int, api_key: int, version: int, remap) -> bytes:
    """Replace every (host, port) of a Metadata / FindCoordinator response with ``remap(node, host, port)``."""
    flexible = version >= (9 if api_key == METADATA else 3)
    r = _Reader(body, start, flexible)
    out, last = bytearray(body[:start]), start

    def endpoint(node_id):
        nonlocal last
        host_at = r.i
        host = r.string()
        port = r.int32()
        new_host, new_port = remap(node_id, host, port)
        out.extend(body[last:host_at])
        out.extend(_enc_string(new_host, flexible) + struct.pack(">i", new_port))
        last = r.i

    if api_key == METADATA:
        if version >= 3:
            r.int32()  # throttle
        for _ in range(r.array_len()):
            node = r.int32()
            endpoint(node)
            if version >= 1:
                r.string()  # rack
            r.tags()
    else:  # FindCoordinator
        if version >= 1:
            r.int32()
        if version < 4:
            r.int16()
            if version >= 1:
                r.string()
            node = r.int32()
            endpoint(node)
        else:
            for _ in range(r.array_len()):
                r.string()  # key
                node = r.int32()
                endpoint(node)
                r.int16()
                r.string()
                r.tags()
    out.extend(body[last:])
    return bytes(out)


# ----------------------------------------------------------------------------- SCRAM

def _scram_login(sock, user: str, password: str) -> None:
    """SaslHandshake v1 + SaslAuthenticate v0 x2 with SCRAM-SHA-512; UserError if refused."""
    corr = [1_000_000]

    def request(api_key, version, body: bytes) -> bytes:
        corr[0] += 1
        _send_frame(sock, struct.pack(">hhi", api_key, version, corr[0]) + _string("fink-transfer-proxy") + body)
        resp = _recv_frame(sock)
        return resp[4:]  # drop the correlation id (header v0)

    resp = request(SASL_HANDSHAKE, 1, _string("SCRAM-SHA-512"))
    if struct.unpack_from(">h", resp)[0] != 0:
        raise UserError("the broker does not offer SASL SCRAM-SHA-512")

    def authenticate(payload: bytes) -> bytes:
        resp = request(SASL_AUTHENTICATE, 0, struct.pack(">i", len(payload)) + payload)
        r = _Reader(resp, 0, False)
        error = r.int16()
        message = r.string()
        if error:
            raise UserError(f"the broker refused the credentials of {user}: {message or error}")
        n = r.int32()
        return resp[r.i:r.i + n]

    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n={user.replace('=', '=3D').replace(',', '=2C')},r={nonce}"
    server_first = authenticate(f"n,,{first_bare}".encode()).decode()
    fields = dict(item.split("=", 1) for item in server_first.split(","))
    if not fields["r"].startswith(nonce):
        raise UserError("SCRAM: the broker's nonce does not extend ours")
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha512).digest()
    final_bare = f"c=biws,r={fields['r']}"
    auth_message = f"{first_bare},{server_first},{final_bare}".encode()
    signature = hmac.new(hashlib.sha512(client_key).digest(), auth_message, hashlib.sha512).digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
    server_final = authenticate(f"{final_bare},p={proof}".encode()).decode()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha512).digest()
    expected = base64.b64encode(hmac.new(server_key, auth_message, hashlib.sha512).digest()).decode()
    if server_final != f"v={expected}":
        raise UserError("SCRAM: the broker's signature is wrong")


# ----------------------------------------------------------------------------- proxy

class SaslProxy:
    """``SaslProxy(bootstrap, user, password).start()`` -> local ``host:port`` to give the client."""

    def __init__(self, bootstrap: str, user: str, password: str, host: str = "127.0.0.1", port: int = 0):
        up_host, up_port = bootstrap.split(",")[0].rsplit(":", 1)
        self.user, self.password, self.host = user, password, host
        self._lock = threading.Lock()
        self._listeners: dict[tuple[str, int], int] = {}
        self._sockets: list[socket.socket] = []
        self._stopped = threading.Event()
        self.port = self._listen((up_host, int(up_port)), port)

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def check(self) -> None:
        """Log in once, so bad credentials are one line before any client uses the proxy."""
        upstream = next(iter(self._listeners))
        with socket.create_connection(upstream, timeout=10) as sock:
            _scram_login(sock, self.user, self.password)

    def _listen(self, upstream: tuple[str, int], port: int = 0) -> int:
        with self._lock:
            if upstream in self._listeners:
                return self._listeners[upstream]
            srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind((self.host, port))
            srv.listen(64)
            self._sockets.append(srv)
            local = srv.getsockname()[1]
            self._listeners[upstream] = local
        threading.Thread(target=self._accept, args=(srv, upstream), daemon=True).start()
        return local

    def _accept(self, srv, upstream) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client, upstream), daemon=True).start()

    def _remap(self, _node, host, port):
        return self.host, self._listen((host, port))

    def _serve(self, client, upstream) -> None:
        try:
            broker = socket.create_connection(upstream, timeout=30)
            broker.settimeout(None)
            _scram_login(broker, self.user, self.password)
        except (OSError, UserError, ConnectionError):
            client.close()
            return
        pending: dict[int, tuple[int, int]] = {}

        def upward():
            try:
                while True:
                    frame = _recv_frame(client)
                    api_key, version, corr = struct.unpack_from(">hhi", frame)
                    if api_key in (METADATA, FIND_COORDINATOR):
                        pending[corr] = (api_key, version)
                    _send_frame(broker, frame)
            except (OSError, ConnectionError, struct.error):
                pass
            finally:
                for s in (client, broker):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=upward, daemon=True).start()
        try:
            while True:
                frame = _recv_frame(broker)
                (corr,) = struct.unpack_from(">i", frame)
                api = pending.pop(corr, None)
                if api is not None:
                    api_key, version = api
                    flexible_header = version >= (9 if api_key == METADATA else 3)
                    start = 4
                    if flexible_header:
                        tags, start = _uvarint(frame, 4)
                        for _ in range(tags):
                            _t, start = _uvarint(frame, start)
                            size, start = _uvarint(frame, start)
                            start += size
                    frame = _rewrite_endpoints(frame, start, api_key, version, self._remap)
                _send_frame(client, frame)
        except (OSError, ConnectionError, struct.error):
            pass
        finally:
            client.close()
            broker.close()

    def stop(self) -> None:
        self._stopped.set()
        for s in self._sockets:
            try:
                s.close()
            except OSError:
                pass
