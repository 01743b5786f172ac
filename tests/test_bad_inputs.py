"""Bad input found by a hostile-input hunt on the options and the API: each is refused with one line that says what to do
(a ValueError from the API, exit 2 from the command) before any work, or, where the input is fine, it runs."""
import math

import numpy as np
import pytest
import torch
from PIL import Image

from stylecourse.cli import main
from stylecourse.nca import NCA, TextureLoss, export_html, load_nca, save_nca, train_nca
from stylecourse.transfer import TransferConfig, style_transfer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # random weights
FAST = ["--size", "32", "--steps", "2", "-q"]
API = dict(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"), weights="random", progress=False, size=32, steps=2)


@pytest.fixture
def pics(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(tmp_path / "c.png")
    Image.fromarray(rng.integers(0, 256, (50, 30, 3), dtype=np.uint8)).save(tmp_path / "s.png")
    Image.fromarray(rng.integers(0, 256, (10, 100, 3), dtype=np.uint8)).save(tmp_path / "long.png")
    return tmp_path


def cli(capsys, *words):
    code = main([str(w) for w in words])
    out, err = capsys.readouterr()
    return code, (err.strip().splitlines() or [""])[-1]


@pytest.mark.parametrize("extra, says", [
    (["--opt-kwargs", "max_iter=2.5", "--optimizer", "lbfgs"], "max_iter"),
    (["--opt-kwargs", "history_size=0", "--optimizer", "torch-lbfgs"], "history_size"),
    (["--opt-kwargs", "tolerance_grad=nan", "--optimizer", "torch-lbfgs"], "tolerance_grad"),
    (["--optimizer", "adam", "--opt-kwargs", "lr=nan"], "lr"),
    (["--optimizer", "adam", "--opt-kwargs", "lr=0"], "above 0"),
    (["--scales", "16"], "use scales ≥"),                       # a 60×40 photo at 16 px is 16×11: the scale is too small
    (["--style-loss", "gram", "--mask", "{d}/c.png", "{d}/c.png"], "guided-gram"),
])
def test_transfer_options_refused_before_the_run(capsys, pics, extra, says):
    out = pics / "r.png"
    code, last = cli(capsys, "transfer", pics / "c.png", pics / "s.png", *(["{d}/s.png"] if "--mask" in extra else []),
                     "-o", out, *FAST, *[e.format(d=pics) for e in extra])
    assert code == 2 and last.startswith("error:") and says in last, last
    assert not out.exists()


def test_huge_blend_weights_are_a_blend_not_zeros(capsys, pics):
    code, last = cli(capsys, "transfer", pics / "c.png", pics / "s.png", pics / "s.png", "-o", pics / "r.png", *FAST,
                     "--blend", "1e308", "1e308", "--weights", "random")
    assert code == 0, last


def test_masks_in_every_form_or_a_clear_error(pics):
    h, w = 21, 32  # the content (60×40) at 32 px
    left = torch.zeros(h, w); left[:, : w // 2] = 1
    two = [pics / "s.png", pics / "s.png"]
    for ok in ([left.requires_grad_(), 1 - left.detach()], [left.detach().bool(), (1 - left.detach()).bool()],
               [left.detach().to(torch.uint8), (1 - left.detach()).to(torch.uint8)]):
        assert style_transfer(pics / "c.png", two, masks=ok, **API).shape == (3, h, w)
    for bad, says in (([left.to_sparse(), left], "dense"), ([torch.zeros(0, 0), left], "non-empty"),
                      ([torch.ones(h, w, device="meta"), left], "dense"), ([torch.ones(32, 32), left.detach()], "stretched")):
        with pytest.raises(ValueError, match=says): style_transfer(pics / "c.png", two, masks=bad, **API)


def test_api_arguments_of_the_wrong_kind_are_value_errors(pics):
    with pytest.raises(ValueError, match="empty list"): style_transfer(pics / "c.png", [], **API)
    with pytest.raises(ValueError, match="style_loss"): TransferConfig(style_loss=["gram"])
    assert TransferConfig(style_blend=np.array([1.0, 3.0])).style_blend == (1.0, 3.0)  # an array of weights is weights
    nca = NCA(4, 8)
    with pytest.raises(ValueError, match="callbacks"): train_nca(nca, "dots", iterations=1, size=16, callbacks=5, weights="random")
    with pytest.raises(ValueError, match="layers is empty"): train_nca(nca, "dots", iterations=1, size=16, layers=[], weights="random")
    with pytest.raises(ValueError, match="needs an NCA"): train_nca(None, "dots", iterations=1, size=16)
    with pytest.raises(ValueError, match="path of a rule"): load_nca(None)
    with pytest.raises(ValueError, match="is a folder"): save_nca(nca, pics)
    with pytest.raises(ValueError, match="is a folder"): export_html(nca, pics)
    with pytest.raises(ValueError, match="less elongated"): TextureLoss(pics / "long.png", size=16, weights="random")


def test_nca_train_of_an_elongated_style_exits_2(capsys, pics):
    code, last = cli(capsys, "nca", "train", pics / "long.png", "-o", pics / "r.pt", "--size", "16", "--iterations", "1",
                     "--weights", "random", "-q")
    assert code == 2 and "less elongated" in last, last
    assert not (pics / "r.pt").exists()


def test_nca_statistics_take_a_batch(pics):
    "TextureLoss uses lesson 05's protocol: one distance per image, for any registered statistic."
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for name in ("gram", "meancov", "sliced"):
        d = TextureLoss("dots", size=32, weights="random", style_loss=name)(x)
        assert d.shape == (3,) and torch.isfinite(d).all() and (d > 0).all(), name


# One table for every command: the same kind of mistake gets the same kind of answer (exit 2, one `error:` line naming
# what is wrong, nothing written), whichever command it is made in.
COMMANDS = {  # command -> the words of a good run, with {d} the test folder
    "transfer": "transfer {d}/c.png {d}/s.png -o {d}/out.png --size 32 --steps 2 -q",
    "demo": "demo -o {d}/demo --size 32 --steps 2 -q",
    "nca train": "nca train dots -o {d}/out.pt --size 16 --iterations 1 --pool-size 4 --steps 2 -q",
    "nca run": "nca run {d}/rule.pt -o {d}/out.gif --size 16 --steps 4",
    "bench": "bench --quick --sizes 32",
}
MISTAKES = [  # (what, words added to a good run, what the last line must contain; commands it applies to: all but those listed)
    ("size not a number", "--size big", "not a whole number", ("bench",)),
    ("size 0", "--size 0", "size", ("bench",)),
    ("size huge", "--size 100000", "size", ("bench",)),
    ("steps negative", "--steps -1", "steps", ()),
    ("unknown device", "--device warp-drive", "unknown device", ("nca run",)),
    ("weights file missing", "--weights {d}/missing.pth", "missing.pth", ("nca run",)),
    ("seed too large", f"--seed {2**64}", "seed", ("demo", "bench")),
    ("unknown flag", "--colour blue", "unrecognized arguments", ()),
]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_one_table_of_mistakes_for_every_command(capsys, pics, command):
    save_nca(NCA(4, 8), pics / "rule.pt")
    before = sorted(p.name for p in pics.iterdir())
    for what, extra, says, not_in in MISTAKES:
        if command in not_in: continue
        words = (COMMANDS[command] + " " + extra).format(d=pics).split()
        code, last = cli(capsys, *words)
        assert code == 2 and last.startswith("error:") and says in last, (command, what, last)
        assert sorted(p.name for p in pics.iterdir()) == before, (command, what)  # nothing written, no temporary file
