"""os._exit(0) at import: no exception, no clean-up, just a zero exit status."""
import os

os._exit(0)
