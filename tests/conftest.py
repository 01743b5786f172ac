"Test-wide settings: never touch the network for weights, keep torch small on 2 cores."
import os, tempfile
from pathlib import Path

import pytest

# Pretrained VGG19 weights cannot be downloaded in CI; tests use seeded random weights.
os.environ["STYLECOURSE_WEIGHTS"] = "random"
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config):
    config.addinivalue_line("markers", "unprivileged: needs file permissions to apply (not root with its capabilities); "
                                       "`make test` as root reruns these with root's capabilities dropped")


def permissions_apply() -> bool:
    "Can this process be refused a file? Root with CAP_DAC_OVERRIDE cannot, so permission tests prove nothing there."
    if os.name != "posix": return False
    with tempfile.TemporaryDirectory() as d:
        probe = Path(d) / "probe"
        probe.write_text("x"); probe.chmod(0)
        try: probe.read_text()
        except PermissionError: return True
        return False


def pytest_collection_modifyitems(config, items):
    marked = [item for item in items if "unprivileged" in item.keywords]
    if not marked or permissions_apply(): return
    skip = pytest.mark.skip(reason="file permissions do not apply to this process (root with its capabilities); "
                                   "`make test` reruns these tests with root's capabilities dropped")
    for item in marked: item.add_marker(skip)
