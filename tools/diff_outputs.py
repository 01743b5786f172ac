"""Compare the outputs of two runs of the lessons: everything but times and rates should agree.

Usage:
  python tools/diff_outputs.py OLD.ipynb NEW.ipynb        # two files
  python tools/diff_outputs.py --rev HEAD nbs/*.ipynb     # each file against its committed version

Text outputs are compared line by line, cell by cell (cells matched by id). A line that reports a time or a rate
(a number with s, ms, min, µs, ×, /s, GFLOP/s, GB/s or it/s), the free memory, or a count of page faults, may
differ; any other differing line is printed.
Figures are compared by their bytes and counted; a figure that plots timings changes with them.
Exit status 1 when a line other than a time or a rate differs.
"""
import argparse, difflib, hashlib, json, re, subprocess, sys
from pathlib import Path

TIMING = re.compile(r"\d\s*(?:[µu]s|ms|s|sec|seconds?|min|minutes?|h)\b|\d\s*×|/s\b|GFLOP|GB/s|it/s|\bs/eval\b"
                    r"|(?=.*\bfree\b).*\d\s*[KMGT]i?B\b"  # the machine's free memory is measured too
                    r"|\d\s*page faults\b")                # and so is the kernel's page-fault counter


KERNEL_FILE = re.compile(r"/tmp/ipykernel_\d+/")  # a warning names the kernel's process: not the lesson's output


def outputs(nb: dict) -> dict:
    "cell id -> (text lines, figure hashes)."
    res = {}
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code": continue
        lines, figs = [], []
        streams = {}  # a stream may arrive in a different number of pieces from run to run: join them
        for o in cell.get("outputs", []):
            if "text" in o: streams[o.get("name")] = streams.get(o.get("name"), "") + "".join(o["text"])
            data = o.get("data", {})
            for mime in ("text/markdown", "text/plain"):
                if mime in data:
                    lines += "".join(data[mime]).splitlines()
                    break
            for mime in ("image/png", "image/svg+xml"):
                if mime in data: figs.append(hashlib.sha1("".join(data[mime]).encode()).hexdigest()[:8])
            if o.get("output_type") == "error": lines.append(f"{o['ename']}: {o['evalue']}")
        for text in streams.values(): lines += text.splitlines()
        lines = [KERNEL_FILE.sub("/tmp/ipykernel_N/", line) for line in lines]
        res[cell.get("id", str(i))] = (lines, figs)
    return res


def compare(old: dict, new: dict, name: str) -> tuple:
    "Print differing non-timing lines; return (differing text lines, timing lines, differing figures)."
    a, b = outputs(old), outputs(new)
    bad = timing = figs = 0
    for cid in a.keys() & b.keys():
        (la, fa), (lb, fb) = a[cid], b[cid]
        figs += sum(x != y for x, y in zip(fa, fb)) + abs(len(fa) - len(fb))
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, la, lb, autojunk=False).get_opcodes():
            if op == "equal": continue
            xs, ys = la[i1:i2], lb[j1:j2]
            if len(xs) == len(ys) and all(TIMING.search(x) and TIMING.search(y) for x, y in zip(xs, ys)):
                timing += len(xs); continue
            bad += max(len(xs), len(ys))
            print(f"{name} cell {cid}:", *(f"  - {x}" for x in xs), *(f"  + {y}" for y in ys), sep="\n")
    if a.keys() ^ b.keys(): print(f"{name}: {len(a.keys() ^ b.keys())} code cells are in only one of the two")
    return bad, timing, figs


def committed(rev: str, path: str) -> dict:
    rel = subprocess.run(["git", "ls-files", "--full-name", path], capture_output=True, text=True, check=True).stdout.strip()
    return json.loads(subprocess.run(["git", "show", f"{rev}:{rel}"], capture_output=True, text=True, check=True).stdout)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", help="compare each file against this git revision")
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    pairs = ([(committed(args.rev, p), json.loads(Path(p).read_text()), p) for p in args.paths] if args.rev else
             [(json.loads(Path(args.paths[0]).read_text()), json.loads(Path(args.paths[1]).read_text()), args.paths[1])])
    total = 0
    for old, new, name in pairs:
        bad, timing, figs = compare(old, new, name)
        print(f"{Path(name).name}: {bad} other lines differ, {timing} timing lines differ, {figs} figures differ")
        total += bad
    sys.exit(1 if total else 0)
