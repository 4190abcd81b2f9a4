"""A loopback TCP relay in front of Tansu that caps the session timeout of JoinGroup requests.

Why: Tansu holds a JoinGroup request for about half of the member's ``session.timeout.ms``
(23 s with librdkafka's default 45 s). The official fink-client subscribes with throw-away
consumers (``print_offsets``) that close while their JoinGroup is still held; their LeaveGroup
queues behind it and times out, so they stay in the group as stale members, and the client's
schema consumer then waits minutes to join: it prints "No schema found" and downloads nothing.
Capping the session and rebalance timeouts the broker sees (6 s by default) makes the join
answer in ~3 s and stale members expire in seconds, so the unmodified official client works on
the embedded broker.

Everything else passes through byte for byte: the relay frames client->broker requests (4-byte
size prefix) only to find JoinGroup (api key 11); broker->client bytes are copied as they come.
Tansu advertises the relay's address, so every client connection goes through it.

Run: ``python -m kafka_io.tansu_proxy --listen 127.0.0.1:29092 --target 127.0.0.1:40123``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import struct

JOIN_GROUP = 11
HEARTBEAT = 12
LEAVE_GROUP = 13
SYNC_GROUP = 14
MEMBERSHIP_APIS = (JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP)
FLEXIBLE_FROM = {JOIN_GROUP: 6, HEARTBEAT: 4, LEAVE_GROUP: 4, SYNC_GROUP: 4}
_CONNECTIONS = itertools.count(1)
DEFAULT_SESSION_CAP_MS = 6000
CHUNK = 1 << 20


def _read_uvarint(buf: bytes | bytearray, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _skip_header(request: bytes | bytearray) -> tuple[int, int, int]:
    """(api_key, api_version, offset of the body) for a request without its size prefix.

    Request header v1 (non-flexible) or v2 (flexible: tagged fields after client_id).
    """
    api_key, api_version = struct.unpack_from(">hh", request, 0)
    pos = 8  # api_key, api_version, correlation_id
    (client_len,) = struct.unpack_from(">h", request, pos)
    pos += 2 + max(client_len, 0)
    if api_version >= FLEXIBLE_FROM.get(api_key, 99):
        ntags, pos = _read_uvarint(request, pos)
        for _ in range(ntags):
            _tag, pos = _read_uvarint(request, pos)
            size, pos = _read_uvarint(request, pos)
            pos += size
    return api_key, api_version, pos


def _read_string(request: bytes | bytearray, pos: int, flexible: bool) -> tuple[str, int]:
    if flexible:
        length_plus_one, pos = _read_uvarint(request, pos)
        length = max(length_plus_one - 1, 0)
    else:
        (length,) = struct.unpack_from(">h", request, pos)
        pos += 2
        length = max(length, 0)
    return bytes(request[pos:pos + length]).decode(errors="replace"), pos + length


def parse_join_group(request: bytes | bytearray) -> dict | None:
    """group_id, member_id and the offset of session_timeout_ms of a JoinGroup request, else None."""
    api_key, api_version, pos = _skip_header(request)
    if api_key != JOIN_GROUP:
        return None
    flexible = api_version >= FLEXIBLE_FROM[JOIN_GROUP]
    group_id, pos = _read_string(request, pos, flexible)
    session_at = pos
    pos += 8 if api_version >= 1 else 4
    member_id, pos = _read_string(request, pos, flexible)
    return {"group_id": group_id, "member_id": member_id, "session_at": session_at,
            "version": api_version}


def session_timeout_offset(request: bytes | bytearray) -> int | None:
    """Byte offset of ``session_timeout_ms`` in a JoinGroup request (without the size prefix)."""
    parsed = parse_join_group(request)
    return parsed["session_at"] if parsed and parsed["session_at"] + 4 <= len(request) else None


def cap_session_timeout(request: bytearray, cap_ms: int) -> bool:
    """Lower a JoinGroup request's session and rebalance timeouts to ``cap_ms`` in place.

    The rebalance timeout (JoinGroup v1+, the int32 after the session timeout) is how long Tansu
    waits for known members to rejoin; librdkafka sends max.poll.interval.ms (300 s) there.
    Returns True if anything changed.
    """
    try:
        pos = session_timeout_offset(request)
    except (struct.error, IndexError):
        return False
    if pos is None:
        return False
    changed = False
    (api_version,) = struct.unpack_from(">h", request, 2)
    positions = [pos, pos + 4] if api_version >= 1 and pos + 8 <= len(request) else [pos]
    for at in positions:
        (current,) = struct.unpack_from(">i", request, at)
        if current > cap_ms:
            struct.pack_into(">i", request, at, cap_ms)
            changed = True
    return changed


def private_group(request: bytes | bytearray, suffix: str) -> bytearray | None:
    """A copy of a group-membership request whose group_id has ``suffix`` appended, else None.

    JoinGroup, Heartbeat, LeaveGroup and SyncGroup all start their body with group_id.
    """
    api_key, api_version, pos = _skip_header(request)
    if api_key not in MEMBERSHIP_APIS:
        return None
    flexible = api_version >= FLEXIBLE_FROM[api_key]
    group_id, end = _read_string(request, pos, flexible)
    data = (group_id + suffix).encode()
    if flexible:
        n, encoded = len(data) + 1, bytearray()
        while n > 0x7F:
            encoded.append((n & 0x7F) | 0x80)
            n >>= 7
        encoded.append(n)
    else:
        encoded = bytearray(struct.pack(">h", len(data)))
    return bytearray(request[:pos]) + encoded + data + bytearray(request[end:])


async def _client_to_broker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, cap_ms: int,
                            suffix: str) -> None:
    """Forward requests; membership requests go to this connection's private group."""
    while True:
        header = await reader.readexactly(4)
        (size,) = struct.unpack(">i", header)
        body = bytearray(await reader.readexactly(size))
        if size >= 2 and body[0] == 0 and body[1] in MEMBERSHIP_APIS:
            try:
                rewritten = private_group(body, suffix)
                if rewritten is not None:
                    body = rewritten
                    cap_session_timeout(body, cap_ms)
                    header = struct.pack(">i", len(body))
            except (struct.error, IndexError):
                pass  # not ours to judge: forward as is
        writer.write(header)
        writer.write(body)
        await writer.drain()


async def _broker_to_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        data = await reader.read(CHUNK)
        if not data:
            return
        writer.write(data)
        await writer.drain()


async def _handle(client_reader, client_writer, target: tuple[str, int], cap_ms: int) -> None:
    try:
        broker_reader, broker_writer = await asyncio.open_connection(*target, limit=CHUNK)
    except OSError:
        client_writer.close()
        return
    suffix = f"~relay{next(_CONNECTIONS)}"
    tasks = [asyncio.create_task(_client_to_broker(client_reader, broker_writer, cap_ms, suffix)),
             asyncio.create_task(_broker_to_client(broker_reader, client_writer))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for w in (broker_writer, client_writer):
            w.close()


async def serve(listen: tuple[str, int], target: tuple[str, int], cap_ms: int = DEFAULT_SESSION_CAP_MS) -> None:
    server = await asyncio.start_server(lambda r, w: _handle(r, w, target, cap_ms), *listen, limit=CHUNK)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, type=_address)
    parser.add_argument("--target", required=True, type=_address)
    parser.add_argument("--session-cap-ms", type=int, default=DEFAULT_SESSION_CAP_MS)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.listen, args.target, args.session_cap_ms))


if __name__ == "__main__":
    main()
