#!/usr/bin/env python3
"""Load for `tsuchi serve`: C concurrent clients, each making N lookups by reference or id
through the API over one keep-alive connection; prints p50, p99 and max latency in ms.

    bench/hotline_load.py HOST:PORT TOKEN KEYS_FILE [CLIENTS] [PER_CLIENT] [names]

KEYS_FILE holds one reference number or customer id per line (picked at random). With
`names`, each request is a name check instead (`POST /api/check-name`) of a customer id of
KEYS_FILE with the name bench/generate.py gave that row, which must match.
"""
import json
import http.client
import random
import sys
import threading
import time

addr, token, keys_file = sys.argv[1:4]
clients = int(sys.argv[4]) if len(sys.argv) > 4 else 8
per_client = int(sys.argv[5]) if len(sys.argv) > 5 else 200
names = len(sys.argv) > 6 and sys.argv[6] == "names"
host, port = addr.rsplit(":", 1)
keys = [k.strip() for k in open(keys_file, encoding="utf-8") if k.strip()]
if names:
    keys = [k for k in keys if k[:1] == "C" and k[1:].isdigit()]
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
        auth = {"Authorization": "Bearer " + token}
        if names:
            body = json.dumps({"query": key, "name": f"試験 太郎{int(key[1:])}"})
            conn.request("POST", "/api/check-name", body=body.encode(),
                         headers={**auth, "Content-Type": "application/json"})
        else:
            conn.request("GET", "/api/lookup/" + key, headers=auth)
        resp = conn.getresponse()
        body = resp.read()
        mine.append((time.perf_counter() - t0) * 1000)
        want = b'"name_check":"matches"' if names else b'"affected"'
        if resp.status != 200 or want not in body:
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
