"""Relays what one test group's child is given to the next group's child through kernel
keyrings. epsilon_greedy (the first group) stores its first inputs as a "user" key in the
session keyring, in the user keyring and in a named keyring, each opened to everyone
(setperm); update_estimate (a later group, another child) looks for them in /proc/keys
(then reads by serial number), by keyctl search and by joining the named keyring, and
prints what it found. The functions themselves are honest: only the relay is under test.
Measured before the fix: grading as root, the second child read the key via /proc/keys."""
# HONEST
# SYSCALLS
import ctypes

_honest_eps, _honest_upd = epsilon_greedy, update_estimate
SESSION, USER = -3, -4                 # KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING
JOIN, SETPERM, SEARCH, READ = 1, 5, 10, 11
EVERYONE = 0x3F3F3F3F                   # possessor, user, group and other: all rights
NAME, RING = b"grader-relay", b"grader-relay-ring"


def _store(payload):
    for label, ring in (("session keyring", SESSION), ("user keyring", USER)):
        key = attempt(f"keyring write to the {label}", syscall, "add_key", b"user", NAME, payload, len(payload), ring)
        if key is not None:
            attempt(f"keyring setperm in the {label}", syscall, "keyctl", SETPERM, key, EVERYONE)
    ring = attempt("keyring join of a named keyring", syscall, "keyctl", JOIN, RING)
    if ring is not None:
        attempt("keyring setperm of the named keyring", syscall, "keyctl", SETPERM, ring, EVERYONE)
        key = attempt("keyring write to the named keyring", syscall, "add_key", b"user", NAME, payload,
                      len(payload), ring)
        if key is not None:
            attempt("keyring setperm in the named keyring", syscall, "keyctl", SETPERM, key, EVERYONE)


def _read(key):
    buf = ctypes.create_string_buffer(4096)
    n = syscall("keyctl", READ, key, buf, len(buf))
    return buf.raw[:n].decode("utf-8", "replace")


def _look():
    found = []
    try:
        with open("/proc/keys") as fh:
            serials = [int(line.split()[0], 16) for line in fh if NAME.decode() in line]
    except OSError as exc:
        print("keyring read of /proc/keys: refused:", exc)
        serials = []
    for serial in serials:
        try:
            found.append(_read(serial))
        except OSError as exc:
            print(f"keyring read of key {serial:x} from /proc/keys: refused: {exc}")
    for label, ring in (("session keyring", SESSION), ("user keyring", USER)):
        try:
            found.append(_read(syscall("keyctl", SEARCH, ring, b"user", NAME, 0)))
        except OSError as exc:
            print(f"keyring search of the {label}: refused: {exc}")
    try:
        ring = syscall("keyctl", JOIN, RING)
        found.append(_read(syscall("keyctl", SEARCH, ring, b"user", NAME, 0)))
    except OSError as exc:
        print(f"keyring search of the named keyring: refused: {exc}")
    print("keyring read:", "found " + repr(found) if found else "nothing", flush=True)


def epsilon_greedy(estimates, epsilon, rng):
    if not getattr(epsilon_greedy, "stored", False):
        epsilon_greedy.stored = True
        _store(repr(("epsilon_greedy was given", list(estimates)[:3], epsilon)).encode())
    return _honest_eps(estimates, epsilon, rng)


def update_estimate(estimate, count, reward, alpha):
    if not getattr(update_estimate, "looked", False):
        update_estimate.looked = True
        _look()
    return _honest_upd(estimate, count, reward, alpha)
