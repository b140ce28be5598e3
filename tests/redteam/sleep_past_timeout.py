"""epsilon_greedy sleeps far past the time limit; update_estimate is honest and must still be graded."""
# HONEST
import time


def epsilon_greedy(estimates, epsilon, rng):
    time.sleep(3600)
    return 0
