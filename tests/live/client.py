# The live-pod tests' Redis client. tests/live_pods.rs sends the README's
# connection code (which defines `redis_client`) followed by this file to
# `python3 -` in a client pod that reads app-config and the password Secret
# as the README tells an app to, so the README's code is what is tested.
#
#   check PREFIX COUNT   write COUNT keys, read them back; print {"ok": n}
#   read PREFIX COUNT    read the keys `check` wrote; print {"ok": n}
#   write PREFIX         SET PREFIX:<i> every 20 ms until /tmp/PREFIX.stop
#                        exists; the acknowledged keys go to /tmp/PREFIX.acked;
#                        print {"acked", "errors", "longest_gap",
#                        "longest_gap_from" (UTC), ...}
#   write-shards PREFIX  the same for a cluster, one key per shard in turn,
#                        each shard's node found by plain connections that
#                        follow MOVED (the cluster client's own recovery
#                        stalls for seconds): "longest_gap" is the longest
#                        any one shard went without an acknowledged write
#   verify PREFIX        GET every acknowledged key; print {"checked", "lost"}
import json
import os
import sys
import time

import redis
from redis.crc import key_slot


def check(prefix, count):
    for i in range(count):
        redis_client.set(f"{prefix}:{i}", str(i))
    read(prefix, count)


def read(prefix, count):
    ok = sum(1 for i in range(count) if redis_client.get(f"{prefix}:{i}") == str(i))
    print(json.dumps({"ok": ok}))


def write(prefix):
    def set_next(i):
        key = f"{prefix}:{i}"
        redis_client.set(key, str(i))
        return key, 0

    _write_until_stopped(prefix, set_next, shards=1)


def write_shards(prefix):
    password = os.getenv("REDIS_PASSWORD")
    seeds = [tuple(n.rsplit(":", 1)) for n in os.environ["REDIS_CLUSTER_NODES"].split(",")]
    connections = {}

    def node(address):
        if address not in connections:
            connections[address] = redis.Redis(host=address[0], port=int(address[1]), password=password,
                                               decode_responses=True, socket_timeout=2,
                                               socket_connect_timeout=2)
        return connections[address]

    # One hash tag per slot range, so each key lives on a different shard.
    ranges = []
    for seed in seeds:
        try:
            ranges = _slot_ranges(node(seed))
            break
        except redis.RedisError:
            continue
    tags = []
    for start, end in ranges:
        tag = next(t for t in (f"{prefix}-{n}" for n in range(100000)) if start <= key_slot(t.encode()) <= end)
        tags.append(tag)
    owner = [seeds[0]] * len(tags)
    next_seed = [0]

    def set_next(i):
        shard = i % len(tags)
        key = f"{prefix}:{{{tags[shard]}}}:{i}"
        try:
            node(owner[shard]).set(key, str(i))
        except redis.ResponseError as error:
            moved = str(error).split()
            if moved and moved[0] == "MOVED":
                owner[shard] = tuple(moved[2].rsplit(":", 1))
            raise
        except (redis.ConnectionError, redis.TimeoutError):
            # That node is gone (a pod that went leaves its address silent:
            # a timeout, not a refusal): any other one answers MOVED.
            connections.pop(owner[shard], None)
            next_seed[0] = (next_seed[0] + 1) % len(seeds)
            owner[shard] = seeds[next_seed[0]]
            raise
        return key, shard

    _write_until_stopped(prefix, set_next, shards=len(tags))


def _slot_ranges(connection):
    slots = connection.execute_command("CLUSTER", "SLOTS")
    # Parsed to {(start, end): ...} or raw [[start, end, ...], ...].
    entries = slots.keys() if isinstance(slots, dict) else slots
    return sorted((int(entry[0]), int(entry[1])) for entry in entries)


def _write_until_stopped(prefix, set_next, shards):
    acked, errors, first_error = 0, 0, None
    last_ack = [time.monotonic()] * shards
    longest_gap, longest_gap_from = 0.0, None
    i = 0
    with open(f"/tmp/{prefix}.acked", "w") as log:
        while not _stopped(prefix):
            try:
                key, shard = set_next(i)
            except Exception as error:  # any failure is a write not acknowledged
                errors += 1
                first_error = first_error or f"{type(error).__name__}: {error}"
                time.sleep(0.05)
            else:
                now = time.monotonic()
                if now - last_ack[shard] > longest_gap:
                    longest_gap = now - last_ack[shard]
                    longest_gap_from = _utc(time.time() - longest_gap)
                last_ack[shard] = now
                acked += 1
                log.write(f"{key}\n")
                log.flush()
            i += 1
            time.sleep(0.02)
    # A writer stuck until the end has a gap that lasts until the end.
    for last in last_ack:
        if time.monotonic() - last > longest_gap:
            longest_gap = time.monotonic() - last
            longest_gap_from = _utc(time.time() - longest_gap)
    print(json.dumps({"attempted": i, "acked": acked, "errors": errors,
                      "longest_gap": round(longest_gap, 3), "longest_gap_from": longest_gap_from,
                      "first_error": first_error}))


def _utc(seconds):
    """The time of day (UTC) the pods' log lines are stamped with."""
    return time.strftime("%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}"


def _stopped(prefix):
    try:
        open(f"/tmp/{prefix}.stop").close()
        return True
    except FileNotFoundError:
        return False


def verify(prefix):
    with open(f"/tmp/{prefix}.acked") as log:
        acked = [line.strip() for line in log if line.strip()]
    lost = [key for key in acked if redis_client.get(key) != key.rsplit(":", 1)[1]]
    print(json.dumps({"checked": len(acked), "lost": len(lost), "first_lost": lost[:10]}))


command, prefix = sys.argv[1], sys.argv[2]
if command == "check":
    check(prefix, int(sys.argv[3]))
elif command == "read":
    read(prefix, int(sys.argv[3]))
elif command == "write":
    write(prefix)
elif command == "write-shards":
    write_shards(prefix)
elif command == "verify":
    verify(prefix)
else:
    sys.exit(f"unknown command {command}")
