#!/usr/bin/env python3
"""An HTTP CONNECT proxy for tests/lab/cloud.sh.

    connect_proxy.py LISTEN_IP:PORT SOURCE_IP LOG [USER:PASSWORD]

Tunnels "CONNECT HOST:PORT" requests, connecting from SOURCE_IP (so a firewall rule can tell the proxy's connections
from anyone else's). With USER:PASSWORD, a request without that Basic Proxy-Authorization gets 407. Anything but
CONNECT gets 405. Appends one line per request to LOG: "CONNECT HOST:PORT auth=yes|no -> STATUS". Prints
"listening" once it accepts connections."""
import base64
import select
import socket
import sys
import threading


def relay(a, b):
    socks = [a, b]
    try:
        while True:
            ready, _, _ = select.select(socks, [], [], 60)
            if not ready:
                return
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        return


def serve(client, source, log, credentials):
    head = b""
    try:
        while b"\r\n\r\n" not in head and len(head) < 16384:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, target = (lines[0].split(" ") + ["", ""])[:2]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        auth = headers.get("proxy-authorization", "")
        if method != "CONNECT":
            status = "405 Method Not Allowed"
        elif credentials and auth != "Basic " + base64.b64encode(credentials.encode()).decode():
            status = "407 Proxy Authentication Required"
        else:
            status = "200 Connection established"
        with open(log, "a") as f:
            f.write(f"{method} {target} auth={'yes' if auth else 'no'} -> {status.split(' ')[0]}\n")
        if not status.startswith("200"):
            client.sendall(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            return
        host, _, port = target.rpartition(":")
        upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10, source_address=(source, 0))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        relay(client, upstream)
        upstream.close()
    except OSError:
        pass
    finally:
        client.close()


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    host, port = sys.argv[1].rsplit(":", 1)
    source, log = sys.argv[2], sys.argv[3]
    credentials = sys.argv[4] if len(sys.argv) == 5 else ""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, int(port)))
    listener.listen(16)
    print("listening", flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve, args=(client, source, log, credentials), daemon=True).start()


if __name__ == "__main__":
    main()
