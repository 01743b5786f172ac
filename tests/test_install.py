"The package as a learner gets it: a wheel, installed without the repository, imported from anywhere."
import os, subprocess, sys, sysconfig, zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args, **kw):
    res = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)
    assert res.returncode == 0, f"{args} failed:\n{res.stdout}\n{res.stderr}"
    return res


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, ROOT)
    (whl,) = dist.glob("stylecourse-*.whl")
    return whl


def test_wheel_holds_every_lesson_module(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.name for p in (ROOT / "stylecourse").glob("*.py")}
    assert modules, "stylecourse/ has no modules"
    for m in modules: assert f"stylecourse/{m}" in names, f"{m} missing from the wheel"
    assert not any(n.startswith(("nbs/", "tests/")) for n in names)
    meta = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    runtime = [l for l in text.splitlines() if l.startswith("Requires-Dist:") and "extra ==" not in l]
    assert any(" torch" in l for l in runtime)
    assert not any("nbdev" in l or "jupyter" in l for l in runtime), "a learner's install must not pull nbdev"


def test_installed_wheel_imports_from_anywhere(wheel, tmp_path):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run(sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", "--force-reinstall", wheel, env=env)
    # Then let the new venv see the dependencies installed here (torch, ...), but not this checkout:
    # path entries added by a .pth file are not site dirs, so the editable install's finder stays inactive.
    site = run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    code = "import stylecourse, stylecourse.all as a; print(stylecourse.__file__); print(len(dir(a)))"
    out = run(py, "-c", code, cwd=tmp_path, env=env).stdout.split()
    assert str(venv) in out[0], f"imported {out[0]} instead of the installed wheel"
    assert int(out[1]) > 10
    assert (venv / "bin" / "stylecourse").exists(), "console script missing"
    run(venv / "bin" / "stylecourse", "--help", cwd=tmp_path, env=env)
