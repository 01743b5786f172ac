"Test-wide settings: never touch the network for weights, keep torch small on 2 cores."
import os

# Pretrained VGG19 weights cannot be downloaded in CI; tests use seeded random weights.
os.environ["STYLECOURSE_WEIGHTS"] = "random"
os.environ.setdefault("MPLBACKEND", "Agg")
