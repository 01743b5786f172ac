"`stylecourse bench` as a command: the table it prints and the bad input it refuses (lesson 10 tests the measurements)."
import re

import pytest

from stylecourse.bench import COLUMNS, main


def test_main_quick_prints_the_table(capsys):
    assert main(["--quick", "--sizes", "32", "--steps", "3"]) == 0
    out = capsys.readouterr().out
    for col in COLUMNS: assert col in out, col
    rows = [line.split() for line in out.splitlines() if re.match(r"\s*32\s+(fp32|bf16)\s", line)]
    assert [r[1] for r in rows] == ["fp32", "bf16"]
    for r in rows:
        assert r[5].endswith("×") and float(r[5][:-1]) > 0      # the speed-up
        assert float(r[9]) < 0.01                               # the first loss: the same computation
        assert 0 <= float(r[11]) <= float(r[10]) <= 1           # mean and largest pixel difference


@pytest.mark.parametrize("argv, match", [(["--sizes", "2"], "--sizes must be at least 4"),
                                         (["--steps", "1"], "--steps must be at least 2"),
                                         (["--steps", "0"], "--steps must be at least 2"),       # not the default in disguise
                                         (["--scales", "128", "256", "--steps", "0"], "--steps must be at least 1"),
                                         (["--scales", "128", "256", "--threads", "0"], "--threads must be at least 1"),
                                         (["--scales", "128", "256", "--repeats", "3"], "no --repeats"),
                                         (["--precisions", "fp16"], "invalid choice"),
                                         (["--device", "gpu"], "unknown device"),
                                         (["--sizes", "100000"], "--sizes 100000")])
def test_main_bad_arguments(argv, match, capsys):
    assert main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error:") and match in last, last
