#!/usr/bin/env python3
"""A TCP proxy on loopback that delays every byte by half of --rtt
milliseconds each way: the API server of a kubeconfig as if it were that far
away. Writes a copy of the kubeconfig that points at the proxy, then serves
until killed.

    python3 tests/bench/delay_proxy.py --rtt 20 --kubeconfig IN --write-kubeconfig OUT
"""
import argparse
import asyncio
import re
import socket


async def pipe(reader, writer, delay):
    """Copies reader to writer, each chunk `delay` seconds after it came."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def send():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                writer.close()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        while True:
            data = await reader.read(65536)
            queue.put_nowait((loop.time() + delay, data))
            if not data:
                break
    finally:
        await sender


async def serve(listener, upstream, delay):
    host, port = upstream

    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(host, port)
        except OSError:
            client_writer.close()
            return
        # Opening a TCP connection takes a round trip.
        await asyncio.sleep(2 * delay)
        await asyncio.gather(
            pipe(client_reader, server_writer, delay),
            pipe(server_reader, client_writer, delay),
            return_exceptions=True,
        )

    server = await asyncio.start_server(handle, sock=listener)
    async with server:
        await server.serve_forever()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rtt", type=float, required=True, help="round trip, milliseconds")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--write-kubeconfig", required=True)
    args = parser.parse_args()
    with open(args.kubeconfig) as file:
        kubeconfig = file.read()
    found = re.search(r"server:\s*https://([^:/\s]+):(\d+)", kubeconfig)
    if not found:
        raise SystemExit(f"{args.kubeconfig}: no `server: https://host:port`")
    upstream = (found.group(1), int(found.group(2)))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    # The API server's certificate names its address, not the port.
    proxied = kubeconfig.replace(found.group(0), f"server: https://{upstream[0]}:{port}", 1)
    if upstream[0] not in ("127.0.0.1", "localhost"):
        raise SystemExit("only a cluster on this machine (127.0.0.1) is measured")
    with open(args.write_kubeconfig, "w") as file:
        file.write(proxied)
    asyncio.run(serve(listener, upstream, args.rtt / 2000))


main()
