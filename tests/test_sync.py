"The committed tree is in sync: nbdev_export changes no module and nbdev_clean changes no notebook."
import filecmp, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def copy_project(dst):
    for name in ("settings.ini", "nbs", "stylecourse"):
        src = ROOT / name
        if src.is_dir(): shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        else: shutil.copy(src, dst / name)


def changed(a, b, pattern):
    return sorted(p.name for p in a.glob(pattern) if not (b / p.name).exists() or not filecmp.cmp(p, b / p.name, shallow=False))


def test_export_leaves_modules_unchanged(tmp_path):
    copy_project(tmp_path)
    subprocess.run([BIN / "nbdev_export"], cwd=tmp_path, check=True, capture_output=True)
    assert changed(tmp_path / "stylecourse", ROOT / "stylecourse", "*.py") == [], "run nbdev_export and commit"


def test_clean_leaves_notebooks_unchanged(tmp_path):
    copy_project(tmp_path)
    subprocess.run([BIN / "nbdev_clean"], cwd=tmp_path, check=True, capture_output=True)
    assert changed(tmp_path / "nbs", ROOT / "nbs", "*.ipynb") == [], "run nbdev_clean and commit"
