"""Prose never types a measured number: a time, rate, ratio, size or count that a rerun can change is printed or
rendered by a code cell. This scans every lesson's Markdown for such quantities and fails on any it finds.

A number that is a fact (a paper's value, a definition, the hardware's specification) may stay in Markdown when the
cell says so: an HTML comment `<!-- facts: 550 MB, 4.7 ms -->` in the same cell lists the quantities it allows,
written as they appear in the text."""
import json, re
from pathlib import Path

import pytest

NBS = sorted((Path(__file__).resolve().parent.parent / "nbs").glob("[0-9]*.ipynb"))
NUMBER = r"(?<![\w.^])(?:\d[\d,]*(?:\.\d+)?(?:\s?[·×x]\s?10\^?[⁻\-]?[\d⁰¹²³⁴⁵⁶⁷⁸⁹]+)?|\d*\.\d+)"
UNIT = (r"(?:ms|µs|us|ns|s|sec|seconds?|min|minutes?|hours?|h|×|x|%|[GMT]FLOP/s|[GMT]FLOPs?|[GMKT]i?B/s|[GMKT]i?B|"
        r"dB|it/s|iterations per second|evaluations per second)")
MEASURED = re.compile(rf"{NUMBER}\s?{UNIT}(?![\w/])(?!\s?\d)")  # "512 × 512" is a shape, not a ratio
COUNTED = re.compile(rf"(?<![\w.])(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten)\s+(?:jumps|spikes|restarts|stalls)\b", re.I)
FACTS = re.compile(r"<!--\s*facts?:(.*?)-->", re.S)
HIDDEN = re.compile(r"`[^`]*`|\$\$.*?\$\$|\$[^$\n]*\$|<!--.*?-->|\]\([^)]*\)|https?://\S+", re.S)  # code, maths, links


def offenders(markdown: str) -> list[str]:
    "The measured quantities typed into one Markdown cell and not declared as facts in it."
    allowed = {a.strip() for m in FACTS.finditer(markdown) for a in m.group(1).split(",")}
    text = HIDDEN.sub(" ", markdown)
    found = [m.group(0).strip() for pat in (MEASURED, COUNTED) for m in pat.finditer(text)]
    return [f for f in found if f not in allowed]


def markdown_cells(path):
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "markdown": yield "".join(cell["source"])


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.stem)
def test_no_measured_number_in_markdown(nb):
    bad = [(f, md.strip().splitlines()[0][:60]) for md in markdown_cells(nb) for f in offenders(md)]
    assert not bad, f"{nb.name}: measured numbers typed into Markdown (render them from a cell): {bad}"


@pytest.mark.parametrize("line", ["It takes 123 ms per evaluation.", "bf16 is 1.3× faster here", "the copy runs at 23 GB/s",
                                  "we saw five jumps in 100 evaluations", "about 2.3 GiB of history", "a 41 % share",
                                  "68 → 91 GFLOP/s", "the loss fell by 3.2e-4 in 12 s"])
def test_the_scan_catches_planted_numbers(line):
    assert offenders(line), line


@pytest.mark.parametrize("line", ["Resize to 256 px and run 300 evaluations.", "VGG19 has 16 convolutions and 5 pools.",
                                  "`torch.set_num_threads(2)` then 4.7 ms <!-- facts: 4.7 ms -->", "$2 \\times 2$ pooling",
                                  "see [the notes](https://example.com/1.3x)", "a 12000 × 12000 photo", "lesson 05, section 2",
                                  "bf16 stores 7 mantissa bits"])
def test_the_scan_allows_settings_facts_code_and_maths(line):
    assert offenders(line) == [], offenders(line)
