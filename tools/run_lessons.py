"""Execute lessons in place so their committed outputs teach (IN_TEST unset, moderate sizes).

Usage: python tools/run_lessons.py [nbs/NN_name.ipynb ...]   (default: every numbered lesson)
Cells marked `#| eval: false` are skipped, as under nbdev_test.
"""
import os, re, sys, time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

SKIP = "skip-execution"
NO_EVAL = re.compile(r"^#\|\s*eval:\s*false", re.M)


def run(path: Path, timeout=1800):
    nb = nbformat.read(path, as_version=4)
    tagged = []
    for cell in nb.cells:
        if cell.cell_type == "code" and NO_EVAL.search(cell.source):
            tags = cell.metadata.setdefault("tags", [])
            if SKIP not in tags:
                tags.append(SKIP)
                tagged.append(cell)
    start = time.time()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    finally:
        for cell in tagged:
            cell.metadata["tags"].remove(SKIP)
            if not cell.metadata["tags"]: del cell.metadata["tags"]
    nbformat.write(nb, path)
    print(f"{path.name}: {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    os.environ.pop("IN_TEST", None)
    # The kernel must use the inline backend so figures become committed outputs.
    os.environ.pop("MPLBACKEND", None)
    root = Path(__file__).resolve().parent.parent
    paths = [Path(p).resolve() for p in sys.argv[1:]] or sorted((root / "nbs").glob("[0-9]*.ipynb"))
    for p in paths: run(p)
