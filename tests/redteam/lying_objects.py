"""Returns objects whose __eq__ is always true and whose __float__/__int__ lie."""


class LyingFloat(float):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = float.__hash__

    def __float__(self):
        return 0.0


class LyingInt(int):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = int.__hash__

    def __int__(self):
        return 10**9

    def __index__(self):
        return 10**9


class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __float__(self):
        return 1.0


def epsilon_greedy(estimates, epsilon, rng):
    return LyingInt(len(estimates) + 5)


def update_estimate(estimate, count, reward, alpha):
    return LyingFloat(estimate) if count % 2 else AlwaysEqual()
