"""The cheapest non-learning NAS submission: honest holes, but search() asks nothing and returns a
controller whose greedy() is one architecture fixed in advance (__ARCH__, filled in by the test)."""

# HONEST


class Fixed:
    def greedy(self):
        return list(__ARCH__)


def search(query, args):
    return Fixed()
