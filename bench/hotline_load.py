#!/usr/bin/env python3
"""Load for `tsuchi serve`: C concurrent clients, each making N lookups by reference or id
through the API over one keep-alive connection; prints p50, p99 and max latency in ms.

    bench/hotline_load.py HOST:PORT TOKEN KEYS_FILE [CLIENTS] [PER_CLIENT]

KEYS_FILE holds one reference number or customer id per line (picked at random).
"""
import http.client
import random
import sys
import threading
import time

addr, token, keys_file = sys.argv[1:4]
clients = int(sys.argv[4]) if len(sys.argv) > 4 else 8
per_client = int(sys.argv[5]) if len(sys.argv) > 5 else 200
host, port = addr.rsplit(":", 1)
keys = [k.strip() for k in open(keys_file, encoding="utf-8") if k.strip()]
latencies = []
errors = []
lock = threading.Lock()


def client(seed):
    rnd = random.Random(seed)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    mine = []
    for _ in range(per_client):
        key = rnd.choice(keys)
        t0 = time.perf_counter()
        conn.request("GET", "/api/lookup/" + key, headers={"Authorization": "Bearer " + token})
        resp = conn.getresponse()
        body = resp.read()
        mine.append((time.perf_counter() - t0) * 1000)
        if resp.status != 200 or b'"affected"' not in body:
            with lock:
                errors.append((resp.status, key))
    with lock:
        latencies.extend(mine)


threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
start = time.perf_counter()
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = time.perf_counter() - start
latencies.sort()
def pct(p):
    return latencies[min(len(latencies) - 1, int(len(latencies) * p))]
print(f"requests {len(latencies)} clients {clients} errors {len(errors)} "
      f"p50 {pct(0.50):.2f} ms p99 {pct(0.99):.2f} ms max {latencies[-1]:.2f} ms "
      f"throughput {len(latencies) / wall:.0f} req/s")
sys.exit(1 if errors else 0)
