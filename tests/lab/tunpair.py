#!/usr/bin/python3
"""tunpair.py NEAR FAR -- two real tun devices (kind "tun", no packet info) joined back to back by this process.

For roamd's VPN lab (tests/lab/vpn_lab.sh, vpn_tun_up): the lab's kernel has no ipip/gre/wireguard, and a veth is
not a tunnel to roamd, so a VPN-like link is a tun whose packets this process carries to a second tun (which the
caller moves into the VPN's namespace) and back. Both devices have carrier while it runs and disappear with it.
Prints "ready" once both exist. Run it only inside a lab's network namespace.
"""
import fcntl, os, select, struct, sys

TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main():
    near, far = open_tun(sys.argv[1]), open_tun(sys.argv[2])
    print("ready", flush=True)
    peer = {near: far, far: near}
    while True:
        for fd in select.select([near, far], [], [])[0]:
            try:
                os.write(peer[fd], os.read(fd, 65536))
            except OSError:
                pass  # the far end is down or gone for a moment: drop the packet, as a link would


if __name__ == "__main__":
    main()
