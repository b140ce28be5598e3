"""Prints 200 MB at import; the functions are honest."""
# HONEST
import sys

_line = "spam " * 200 + "\n"
for _ in range(200 * (1 << 20) // len(_line)):
    sys.stdout.write(_line)
