"""update_estimate never returns."""
# HONEST


def update_estimate(estimate, count, reward, alpha):
    while True:
        pass
