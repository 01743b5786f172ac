"""stylecourse.gram and stylecourse.drawing: what lessons 05 and 05b cannot test well -- what importing them loads, and a
small texture synthesis with its loss history (the Gram matrix, the losses, the statistic and the drawings are tested
in the notebooks)."""
import subprocess, sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def loaded_after(module: str) -> set:
    "The heavy or dependent modules a fresh interpreter has loaded after importing `module`."
    watch = ["matplotlib", "matplotlib.pyplot", "ipywidgets", "torchvision", "stylecourse.drawing"]
    code = f"import sys, {module}; print(' '.join(m for m in {watch!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_gram_loads_no_plotting_library():
    assert loaded_after("stylecourse.gram") == set()


def test_drawing_loads_pyplot_but_not_the_widget_library():
    assert loaded_after("stylecourse.drawing") == {"matplotlib", "matplotlib.pyplot", "stylecourse.drawing"}


def test_synthesize_texture_small():
    from stylecourse.gram import synthesize_texture
    from stylecourse.optimize import LossHistory
    style = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(1)) ** 3   # not the noise it starts from
    history = LossHistory()
    with pytest.warns(UserWarning):                     # untrained weights say so
        out = synthesize_texture(style, ("relu1_1", "relu2_1"), size=16, steps=6, device="cpu", progress=False,
                                 callbacks=[history])
    assert out.shape == (3, 16, 16) and 0 <= out.min() and out.max() <= 1
    assert len(history.losses["loss"]) == 6 and set(history.losses) == {"loss", "relu1_1", "relu2_1"}
    assert min(history.losses["loss"]) < history.losses["loss"][0]   # relative losses: L-BFGS makes progress
    with pytest.raises(ValueError, match="unknown layer"): synthesize_texture(style, ["relu9_9"], size=16)
