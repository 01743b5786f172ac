"Test-wide settings: never touch the network for weights, keep torch small on 2 cores."
import os

# Pretrained VGG19 weights cannot be downloaded in CI; tests use seeded random weights.
os.environ["STYLECOURSE_WEIGHTS"] = "random"
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config):
    config.addinivalue_line("markers", "unprivileged: needs a non-root user (permission checks); `make test` reruns "
                                       "these as the user nobody when it runs as root")
