"""update_estimate forks 500 sleeping children on every call, each in its own session (out of
the process group), then answers honestly."""
# HONEST
import os
import time

_honest = update_estimate


def update_estimate(estimate, count, reward, alpha):
    made = 0
    try:
        for _ in range(500):
            if os.fork() == 0:
                os.setsid()
                time.sleep(600)
                os._exit(0)
            made += 1
    finally:
        print(f"forked {made} children")
    return _honest(estimate, count, reward, alpha)
