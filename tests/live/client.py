# The live-pod tests' Redis client. tests/live_pods.rs sends the README's
# connection code (which defines `redis_client`) followed by this file to
# `python3 -` in a client pod that reads app-config and the password Secret
# as the README tells an app to, so the README's code is what is tested.
#
#   check PREFIX COUNT   write COUNT keys, read them back; print {"ok": n}
#   read PREFIX COUNT    read the keys `check` wrote; print {"ok": n}
#   write PREFIX         SET PREFIX:<i> every 20 ms until /tmp/PREFIX.stop
#                        exists; the acknowledged i go to /tmp/PREFIX.acked;
#                        print {"acked", "errors", "longest_gap", ...}
#   verify PREFIX        GET every acknowledged key; print {"checked", "lost"}
import json
import sys
import time


def check(prefix, count):
    for i in range(count):
        redis_client.set(f"{prefix}:{i}", str(i))
    read(prefix, count)


def read(prefix, count):
    ok = sum(1 for i in range(count) if redis_client.get(f"{prefix}:{i}") == str(i))
    print(json.dumps({"ok": ok}))


def write(prefix):
    acked, errors, first_error = [], 0, None
    longest_gap, last_ack = 0.0, time.monotonic()
    i = 0
    with open(f"/tmp/{prefix}.acked", "w") as log:
        while not _stopped(prefix):
            try:
                redis_client.set(f"{prefix}:{i}", str(i))
            except Exception as error:  # any failure is a write not acknowledged
                errors += 1
                first_error = first_error or f"{type(error).__name__}: {error}"
                time.sleep(0.05)
            else:
                now = time.monotonic()
                longest_gap = max(longest_gap, now - last_ack)
                last_ack = now
                acked.append(i)
                log.write(f"{i}\n")
                log.flush()
            i += 1
            time.sleep(0.02)
    # A writer stuck until the end has a gap that lasts until the end.
    longest_gap = max(longest_gap, time.monotonic() - last_ack)
    print(json.dumps({"attempted": i, "acked": len(acked), "errors": errors,
                      "longest_gap": round(longest_gap, 3), "first_error": first_error}))


def _stopped(prefix):
    try:
        open(f"/tmp/{prefix}.stop").close()
        return True
    except FileNotFoundError:
        return False


def verify(prefix):
    with open(f"/tmp/{prefix}.acked") as log:
        acked = [int(line) for line in log if line.strip()]
    lost = [i for i in acked if redis_client.get(f"{prefix}:{i}") != str(i)]
    print(json.dumps({"checked": len(acked), "lost": len(lost), "first_lost": lost[:10]}))


command, prefix = sys.argv[1], sys.argv[2]
if command == "check":
    check(prefix, int(sys.argv[3]))
elif command == "read":
    read(prefix, int(sys.argv[3]))
elif command == "write":
    write(prefix)
elif command == "verify":
    verify(prefix)
else:
    sys.exit(f"unknown command {command}")
