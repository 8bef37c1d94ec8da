#!/usr/bin/env python3
"""Delay from a send's HTTP answer to its message.created frame at a listener.

Against a running ./scripts/run-local.sh (or any deployment): registers two
users, opens the second one's WebSocket with a ticket, sends N messages one
after another as the first user, and prints the median and p99 of
(frame arrival - answer arrival). A change answers once it has nudged the
delivery queue, and the fan-out function delivers it after that, so the delay
is the pipeline's: queue, fan-out pass, Management API post.

    pip install websockets
    python3 scripts/realtime-latency.py [--base http://127.0.0.1:9000] [--sends 1000]
"""

import argparse
import asyncio
import json
import secrets
import statistics
import time
import urllib.request

import websockets


def call(base, method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request) as response:
        text = response.read()
    return json.loads(text) if text else None


def account(base, name):
    email = f"{name}@example.org"
    password = "correct horse battery staple"
    call(base, "POST", "/api/auth/register", body={"email": email, "password": password, "username": name})
    login = call(base, "POST", "/api/auth/login", body={"email": email, "password": password})
    return login["access_token"], login["user"]["id"]


async def main(base, sends):
    suffix = secrets.token_hex(4)
    sender, _ = account(base, f"sender{suffix}")
    listener, listener_id = account(base, f"listener{suffix}")
    conversation = call(base, "POST", "/api/conversations", sender, {"participant_ids": [listener_id]})["id"]
    url = call(base, "POST", "/api/realtime/tickets", listener)["url"]
    arrived = {}
    async with websockets.connect(url) as socket:

        async def listen():
            async for frame in socket:
                event = json.loads(frame)
                if event.get("type") == "message.created":
                    arrived[event["message"]["id"]] = time.perf_counter()

        listening = asyncio.create_task(listen())
        answered = {}
        for i in range(sends):
            message = await asyncio.to_thread(
                call, base, "POST", f"/api/conversations/{conversation}/messages", sender, {"body": f"m{i}"}
            )
            answered[message["id"]] = time.perf_counter()
        deadline = time.perf_counter() + 10
        while len(arrived) < sends and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        listening.cancel()

    delays = sorted((arrived[i] - answered[i]) * 1000 for i in answered if i in arrived)
    if not delays:
        raise SystemExit("no frame arrived")
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(f"sends: {sends}, frames: {len(delays)}, lost: {sends - len(delays)}")
    print(f"delay from answer to frame (ms): median {statistics.median(delays):.2f}, p99 {p99:.2f}, "
          f"min {delays[0]:.2f}, max {delays[-1]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:9000")
    parser.add_argument("--sends", type=int, default=1000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.base, arguments.sends))
