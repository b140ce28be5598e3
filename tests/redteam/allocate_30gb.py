"""update_estimate asks for 30 GB."""
# HONEST


def update_estimate(estimate, count, reward, alpha):
    hog = bytearray(30 << 30)
    return float(len(hog))
