"Tests for stylecourse.transfer (lesson 07): every option's effect, exact budgets, stopping, errors before work."
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import stylecourse.transfer as T
import stylecourse.gram as G, stylecourse.memory as M
from stylecourse.transfer import style_transfer, total_variation, TransferConfig
from stylecourse.tutorial import tutorial_style_transfer
from stylecourse.images import load_image
from stylecourse.vgg import load_vgg19, imagenet_normalize
from stylecourse.hooks import FeatureExtractor
from stylecourse.gram import gram_matrix

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # random-weights warnings

SIZE = 32
FAST = dict(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"), weights="random", progress=False, size=SIZE)


def _img(h, w, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(3, h, w, generator=g)


@pytest.fixture(scope="module")
def content(): return _img(24, 32, 0)  # landscape, 4:3


@pytest.fixture(scope="module")
def style():   return _img(40, 20, 1)  # portrait, another size and aspect


class Recorder:
    "Callback keeping (step, image clone, losses) of every evaluation."
    def __init__(self, stop_at=None, interrupt_at=None): self.rows, self.stop_at, self.interrupt_at = [], stop_at, interrupt_at
    def __call__(self, step, image, losses):
        self.rows.append((step, image.detach().cpu().clone(), dict(losses)))
        if step == self.interrupt_at: raise KeyboardInterrupt
        return step == self.stop_at
    @property
    def steps(self): return [r[0] for r in self.rows]
    def best(self): return min(self.rows, key=lambda r: r[2]["loss"])[1]


# --- the result -----------------------------------------------------------------------------------------------

def test_result_shape_range_and_aspect(content, style):
    out = style_transfer(content, style, steps=3, **FAST)
    assert out.shape == load_image(content, SIZE).shape == (3, 24, 32)  # the content's shape, its longest side = size
    assert out.dtype == torch.float32 and out.device.type == "cpu"
    assert 0 <= out.min() and out.max() <= 1 and torch.isfinite(out).all()
    wide = style_transfer(style, content, steps=2, **FAST)  # a portrait content with a landscape style
    assert wide.shape == (3, 32, 16)


def test_files_and_pil_inputs(tmp_path, content, style):
    Image.fromarray((content.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(tmp_path / "c.png")
    pil_style = Image.fromarray((style.permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    out = style_transfer(tmp_path / "c.png", pil_style, steps=2, **FAST)
    assert out.shape == (3, 24, 32)


def test_steps_zero_returns_init(content, style):
    c = load_image(content, SIZE)
    assert torch.equal(style_transfer(content, style, steps=0, **FAST), c)
    noise = style_transfer(content, style, steps=0, init="noise", seed=5, **FAST)
    assert torch.equal(noise, torch.rand(c.shape, generator=torch.Generator().manual_seed(5)))
    s = style_transfer(content, style, steps=0, init="style", **FAST)
    assert s.shape == c.shape and not torch.equal(s, c)
    given = style_transfer(content, style, steps=0, init=torch.full((3, 12, 16), 0.25), **FAST)  # resized to the content
    assert given.shape == c.shape and torch.allclose(given, torch.full_like(c, 0.25))


# --- budgets, seeds, stopping --------------------------------------------------------------------------------

@pytest.mark.parametrize("optimizer,steps", [("lbfgs", 7), ("lbfgs", 23), ("torch-lbfgs", 23), ("adam", 7)])
def test_exact_evaluation_count(content, style, optimizer, steps):
    rec = Recorder()
    style_transfer(content, style, steps=steps, optimizer=optimizer, callbacks=[rec], **FAST)
    assert rec.steps == list(range(1, steps + 1))


@pytest.mark.parametrize("optimizer", ["lbfgs", "torch-lbfgs"])
def test_line_search_budget_is_an_upper_bound(content, style, optimizer):
    rec = Recorder()
    style_transfer(content, style, steps=30, optimizer=optimizer, opt_kwargs={"line_search_fn": "strong_wolfe"},
                   callbacks=[rec], init="noise", **FAST)
    assert 1 <= len(rec.steps) <= 30 and rec.steps == list(range(1, len(rec.steps) + 1))


def test_each_optimizer_lowers_the_loss(content, style, monkeypatch):
    made = []
    class Spy(T.LBFGS):  # "lbfgs" must be lesson 06's LBFGS with lr=1, history 100, no line search
        def __init__(self, params, **kw): made.append(kw); super().__init__(params, **kw)
    from stylecourse.optimize import OPTIMIZERS
    monkeypatch.setitem(OPTIMIZERS, "lbfgs", (Spy, OPTIMIZERS["lbfgs"][1]))
    for opt in ("lbfgs", "torch-lbfgs", "adam"):
        rec = Recorder()
        style_transfer(content, style, steps=12, optimizer=opt, callbacks=[rec], init="noise", **FAST)
        losses = [r[2]["loss"] for r in rec.rows]
        assert min(losses[1:]) < losses[0], opt
    assert made and made[-1]["lr"] == 1 and made[-1]["history_size"] == 100 and made[-1]["line_search_fn"] is None


def test_opt_kwargs_override(content, style):
    c = load_image(content, SIZE)
    with pytest.raises(ValueError, match="lr must be above 0"):  # Adam with lr=0 would never move: refused before the run,
        style_transfer(content, style, steps=4, optimizer="adam", opt_kwargs={"lr": 0.0}, **FAST)  # no result to give
    moved = style_transfer(content, style, steps=4, optimizer="adam", **FAST)
    assert not torch.equal(moved, c)


def test_same_seed_same_image_and_seeds_differ(content, style):
    a = style_transfer(content, style, steps=5, init="noise", seed=1, **FAST)
    b = style_transfer(content, style, steps=5, init="noise", seed=1, **FAST)
    c = style_transfer(content, style, steps=5, init="noise", seed=2, **FAST)
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_callback_true_stops_and_returns_best(content, style):
    rec = Recorder(stop_at=4)
    out = style_transfer(content, style, steps=30, init="noise", callbacks=rec, **FAST)  # a bare callable works too
    assert rec.steps == [1, 2, 3, 4]
    assert torch.equal(out, rec.best())


def test_interrupt_returns_best_so_far(content, style):
    rec = Recorder(interrupt_at=5)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        out = style_transfer(content, style, steps=30, init="noise", callbacks=[rec], **FAST)
    assert rec.steps == [1, 2, 3, 4, 5] and torch.equal(out, rec.best())


def test_nan_loss_returns_best_so_far(content, style, monkeypatch):
    calls = {"n": 0}
    real = G.gram_matrix
    def flaky(x, norm="hw"):  # 2 style layers: 2 calls for the targets, then 2 per evaluation
        calls["n"] += 1
        g = real(x, norm)
        return g * math.nan if calls["n"] > 2 + 2 * 6 else g
    monkeypatch.setattr(G, "gram_matrix", flaky)
    rec = Recorder()
    with pytest.warns(RuntimeWarning, match="nan"):
        out = style_transfer(content, style, steps=30, init="noise", callbacks=[rec], **FAST)
    assert rec.steps == list(range(1, 7))  # the NaN evaluation (7th) is never reported as a result
    assert torch.isfinite(out).all() and torch.equal(out, rec.best())


# --- the loss ------------------------------------------------------------------------------------------------

def test_loss_is_exactly_as_written(content, style):
    kw = dict(content_weight=2.0, style_weight=30.0, tv_weight=5.0, param="clamp")  # clamp: the first image is x itself
    rec = Recorder()
    style_transfer(content, style, steps=1, callbacks=[rec], init="noise", seed=3, **(FAST | kw))
    x = torch.rand((3, 24, 32), generator=torch.Generator().manual_seed(3))  # the first image evaluated
    c, s = load_image(content, SIZE), load_image(style, SIZE)
    vgg = load_vgg19("random", last_layer="relu2_1")
    with FeatureExtractor(vgg, ["relu1_1", "relu2_1"]) as fx, torch.no_grad():
        f, p, a = (fx(imagenet_normalize(i[None])) for i in (x, c, s))
    content_l = F.mse_loss(f["relu2_1"], p["relu2_1"])
    style_l = {l: F.mse_loss(gram_matrix(f[l]), gram_matrix(a[l])) for l in ("relu1_1", "relu2_1")}
    dv, dh = x[:, 1:] - x[:, :-1], x[:, :, 1:] - x[:, :, :-1]
    tv = (dv.pow(2).sum() + dh.pow(2).sum()) / (dv.numel() + dh.numel())
    expected = 2.0 * content_l + 30.0 * sum(style_l.values()) + 5.0 * tv
    losses = rec.rows[0][2]
    assert losses["loss"] == pytest.approx(float(expected), rel=1e-5)
    assert losses["content"] == pytest.approx(2.0 * float(content_l), rel=1e-5)
    assert losses["content/relu2_1"] == pytest.approx(2.0 * float(content_l), rel=1e-5)
    assert losses["style/relu1_1"] == pytest.approx(30.0 * float(style_l["relu1_1"]), rel=1e-5)
    assert losses["tv"] == pytest.approx(5.0 * float(tv), rel=1e-5)
    assert losses["loss"] == pytest.approx(losses["content"] + losses["style"] + losses["tv"], rel=1e-5)


def test_layer_list_equals_dict_of_ones_and_weights_matter(content, style):
    base = dict(FAST, style_layers=None)
    as_list = style_transfer(content, style, steps=4, **(base | dict(style_layers=["relu1_1", "relu2_1"])))
    as_dict = style_transfer(content, style, steps=4, **(base | dict(style_layers={"relu1_1": 1, "relu2_1": 1.0})))
    weighted = style_transfer(content, style, steps=4, **(base | dict(style_layers={"relu1_1": 5, "relu2_1": 1})))
    assert torch.equal(as_list, as_dict) and not torch.allclose(as_list, weighted)
    rec = Recorder()
    style_transfer(content, style, steps=1, init="noise", callbacks=[rec], **(base | dict(style_layers={"relu1_1": 5, "relu2_1": 0})))
    losses = rec.rows[0][2]
    assert losses["style/relu2_1"] == 0 and losses["style"] == pytest.approx(losses["style/relu1_1"])


def test_default_layers_are_gatys(content, style):
    assert T.CONTENT_LAYERS == ("relu4_2",) and T.STYLE_LAYERS == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    rec = Recorder()
    style_transfer(content, style, steps=1, size=SIZE, weights="random", progress=False, callbacks=[rec])
    assert {k for k in rec.rows[0][2] if "/" in k} == {"content/relu4_2", *(f"style/{l}" for l in T.STYLE_LAYERS)}


def test_zero_style_weight_keeps_the_content(content, style):
    out = style_transfer(content, style, steps=6, style_weight=0, param="clamp", **FAST)  # clamp: the start is the content
    assert torch.allclose(out, load_image(content, SIZE), atol=1e-6)
    near = style_transfer(content, style, steps=6, style_weight=0, **FAST)  # sigmoid: pixels start at most 1e-3 from 0 and 1
    assert torch.allclose(near, load_image(content, SIZE), atol=2e-3)


def test_zero_content_weight_ignores_the_content(content, style):
    other = _img(24, 32, 9)  # another content of the same shape: with content_weight=0 only the shape matters
    a = style_transfer(content, style, steps=6, content_weight=0, init="noise", **FAST)
    b = style_transfer(other, style, steps=6, content_weight=0, init="noise", **FAST)
    assert torch.equal(a, b)


def test_tv_weight_smooths(content, style):
    rough = style_transfer(content, style, steps=10, init="noise", **FAST)
    smooth = style_transfer(content, style, steps=10, init="noise", tv_weight=50.0, **FAST)
    assert total_variation(smooth) < 0.5 * total_variation(rough)


def test_gram_norm_changes_the_style_term_by_the_expected_factor(content, style):
    parts = {}
    for norm in ("hw", "chw", "none"):
        rec = Recorder()
        style_transfer(content, style, steps=1, gram_norm=norm, callbacks=[rec], init="noise", **FAST)
        parts[norm] = rec.rows[0][2]
    # "hw" Grams are C times "chw" ones and H·W times smaller than "none": MSEs scale by the squares
    assert parts["hw"]["style/relu1_1"] == pytest.approx(64**2 * parts["chw"]["style/relu1_1"], rel=1e-4)
    assert parts["none"]["style/relu1_1"] > parts["hw"]["style/relu1_1"]  # unnormalised Grams are much larger
    assert parts["hw"]["content"] == parts["chw"]["content"]


def test_bf16_runs_on_cpu_and_is_close_to_fp32(content, style):
    r32, r16 = Recorder(), Recorder()
    a = style_transfer(content, style, steps=3, callbacks=[r32], **FAST)
    b = style_transfer(content, style, steps=3, precision="bf16", callbacks=[r16], **FAST)
    first32, first16 = r32.rows[0][2]["style"], r16.rows[0][2]["style"]
    assert first16 != first32 and first16 == pytest.approx(first32, rel=0.1)  # bf16 really ran, and agrees roughly
    assert (a - b).abs().mean() < 0.05


# --- the tutorial's design --------------------------------------------------------------------------------------

def test_tutorial_design_matches_style_transfer(content, style):
    rec_a, rec_b = Recorder(), Recorder()
    cfg = TransferConfig.tutorial(size=SIZE, steps=6, weights="random", progress=False)
    a = style_transfer(content, style, cfg, callbacks=[rec_a])
    b = tutorial_style_transfer(content, style, cfg, callbacks=[rec_b])
    assert rec_a.steps == rec_b.steps == list(range(1, 7))
    for (_, ia, la), (_, ib, lb) in zip(rec_a.rows, rec_b.rows):  # the same iterates and losses, step by step
        assert la["loss"] == pytest.approx(lb["loss"], rel=1e-4) and (ia - ib).abs().max() < 1e-3
    assert b.shape == a.shape and 0 <= b.min() and b.max() <= 1


# --- errors, before any work ---------------------------------------------------------------------------------

BAD = [
    (dict(size=0), "size"), (dict(size=-3), "size"), (dict(size=2.5), "size"), (dict(size=True), "size"),
    (dict(size=8, style_layers=("relu5_1",)), "too small for layer relu5_1"), (dict(size=1, style_layers=("relu1_1", "pool1")), "≥ 2"),
    (dict(steps=-1), "steps"), (dict(seed=-1), "seed"),
    (dict(content_layers=("conv9_9",)), "valid names are conv1_1"), (dict(style_layers={"relu1_1": 1, "fc7": 1}), "unknown layer 'fc7'"),
    (dict(style_layers={"relu1_1": -1}), "≥ 0"), (dict(content_layers=(), style_layers=()), "both empty"),
    (dict(content_weight=-1), "content_weight"), (dict(style_weight=float("nan")), "style_weight"), (dict(tv_weight=-0.1), "tv_weight"),
    (dict(style_weight="lots"), "style_weight"),
    (dict(init="zeros"), "unknown init"), (dict(optimizer="rmsprop"), "unknown optimizer"), (dict(precision="fp16"), "unknown precision"),
    (dict(gram_norm="cc"), "unknown gram_norm"), (dict(opt_kwargs={"momentum": 0.9}), "rejects opt_kwargs"),
    (dict(opt_kwargs=[1]), "opt_kwargs"), (dict(callbacks=[1]), "callbacks"), (dict(device="tpu"), "unknown device"),
    (dict(device="cuda:7"), "not available"),
]


@pytest.mark.parametrize("kwargs,match", BAD)
def test_impossible_options_fail_before_any_work(content, style, monkeypatch, kwargs, match):
    def no_work(*a, **k): raise AssertionError("work started before the options were checked")
    monkeypatch.setattr(T, "load_image", no_work)
    monkeypatch.setattr(T, "load_vgg19", no_work)
    with pytest.raises(ValueError, match=match):
        style_transfer(content, style, **(FAST | kwargs))


def test_images_too_thin_for_the_layers_fail_before_the_network(monkeypatch):
    def no_network(*a, **k): raise AssertionError("the network was loaded")
    monkeypatch.setattr(T, "load_vgg19", no_network)
    thin = _img(4, 64, 0)  # 64×4: at size 32 its short side is 2 px, relu5_1 needs 16
    with pytest.raises(ValueError, match="content image is 32×2 px"):
        style_transfer(thin, _img(32, 32, 1), size=32, weights="random", progress=False)
    with pytest.raises(ValueError, match="style image"):
        style_transfer(_img(32, 32, 1), thin, size=32, weights="random", progress=False)
    with pytest.raises(ValueError, match="cannot|no such|not"):  # a missing file is an ImageLoadError, a ValueError
        style_transfer("/nonexistent/photo.jpg", thin, size=32, weights="random", progress=False)


def test_bad_weights_are_a_value_error(content, style, tmp_path):
    (tmp_path / "w.pth").write_bytes(b"garbage")
    with pytest.raises(ValueError):
        style_transfer(content, style, steps=1, **(FAST | dict(weights=str(tmp_path / "w.pth"))))


def test_a_run_that_cannot_fit_is_refused_before_the_network(content, style, monkeypatch):
    "With little memory free, style_transfer names a size that fits and never loads VGG19; close to the limit it warns."
    def no_network(*a, **k): raise AssertionError("the network was loaded")
    monkeypatch.setattr(M, "available_memory", lambda device=None: 2**20)  # 1 MiB free
    monkeypatch.setattr(T, "load_vgg19", no_network)
    with pytest.raises(M.MemoryEstimateError, match=r"size=32 needs about .* free on cpu") as e:
        style_transfer(content, style, steps=1, **FAST)
    assert isinstance(e.value, ValueError) and isinstance(e.value, MemoryError)
    monkeypatch.undo()
    need = M.estimate_memory((32, 32), FAST["content_layers"], FAST["style_layers"])["total"]
    monkeypatch.setattr(M, "available_memory", lambda device=None: int(need / 0.75))  # the run takes 75 % of what is free
    with pytest.warns(RuntimeWarning, match="other programs may push the run out of memory"):
        style_transfer(_img(32, 32, 0), _img(32, 32, 1), steps=1, **FAST)


def test_features_are_channels_last_and_the_gradient_reaches_the_image(content, style):
    "The speed layout of lesson 07: the network sees channels_last maps; the image still gets an ordinary gradient."
    from stylecourse.hooks import FeatureExtractor
    from stylecourse.vgg import load_vgg19
    vgg = load_vgg19("random", last_layer="relu2_1").to(memory_format=torch.channels_last)
    img = torch.rand(3, 32, 32)
    with FeatureExtractor(vgg, ["relu1_1", "relu2_1"]) as fx:
        loss_fn = T.make_transfer_loss(fx, img, torch.rand(3, 32, 32), ["relu2_1"], ["relu1_1", "relu2_1"])
        x = img.clone().requires_grad_()
        loss, _ = loss_fn(x)
        loss.backward()
        feats = fx(T.imagenet_normalize(img[None]).contiguous(memory_format=torch.channels_last))
    assert all(f.is_contiguous(memory_format=torch.channels_last) for f in feats.values())
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


# --- one owner for the options, and honest results ---------------------------------------------------------------

def test_a_config_and_keyword_options_give_the_same_image(content, style):
    a = style_transfer(content, style, TransferConfig(size=SIZE, steps=3, weights="random", progress=False))
    b = style_transfer(content, style, size=SIZE, steps=3, weights="random", progress=False)
    c = style_transfer(content, style, TransferConfig(size=64, steps=3), size=SIZE, weights="random", progress=False)
    assert torch.equal(a, b) and torch.equal(a, c)  # options override the config's fields


def test_config_is_frozen_and_checked_before_any_image_is_read(monkeypatch):
    import dataclasses
    cfg = TransferConfig(size=64, steps=3)
    with pytest.raises(dataclasses.FrozenInstanceError): cfg.size = 32
    monkeypatch.setattr(T, "load_image", lambda *a, **k: pytest.fail("an image was read"))
    for bad, field in [(dict(size=0), "size"), (dict(seed=2**64), "seed"), (dict(callbacks=42), "callbacks"),
                       (dict(init="nosie"), "init"), (dict(colours="yes"), "colours")]:
        with pytest.raises(ValueError, match=field): style_transfer("c.png", "s.png", cfg, **bad)
    with pytest.raises(ValueError, match="config must be a TransferConfig"): style_transfer("c.png", "s.png", {"size": 3})
    assert TransferConfig(size=np.int64(32), steps=np.int32(2)).size == 32


def test_callbacks_get_their_own_copy_of_the_image(content, style):
    kept = []
    def vandal(step, image, losses):
        kept.append(image)
        image.fill_(0.5)  # editing the copy must not change the run
    a = style_transfer(content, style, steps=4, init="noise", callbacks=[vandal], **FAST)
    b = style_transfer(content, style, steps=4, init="noise", **FAST)
    assert torch.equal(a, b)
    assert len(kept) == 4 and all(k.data_ptr() != kept[0].data_ptr() for k in kept[1:])


def test_a_loss_that_is_never_finite_raises(content, style, monkeypatch):
    monkeypatch.setattr(G, "gram_matrix", lambda x, norm="hw": torch.full((x.shape[0], x.shape[1], x.shape[1]), math.nan))
    with pytest.raises(ValueError, match="not finite at the first evaluation"):
        style_transfer(content, style, steps=5, **FAST)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="not finite at the first evaluation"):
        style_transfer(content, style, steps=5, **(FAST | dict(style_weight=1e308)))


def test_all_weights_zero_warns(content, style):
    with pytest.warns(RuntimeWarning, match="all 0"):
        out = style_transfer(content, style, steps=2, content_weight=0, style_weight=0, **FAST)
    assert out.shape[-2:] == (24, 32)


def test_init_accepts_a_path_string(content, style, tmp_path):
    Image.fromarray((np.random.default_rng(0).random((24, 32, 3)) * 255).astype(np.uint8)).save(tmp_path / "start.png")
    a = style_transfer(content, style, steps=0, init=str(tmp_path / "start.png"), **FAST)
    b = style_transfer(content, style, steps=0, init=tmp_path / "start.png", **FAST)
    assert torch.equal(a, b) and a.shape == (3, 24, 32)


def test_the_default_never_jumps_and_beats_the_tutorial_scheme(content, style):
    "The default (sigmoid, L-BFGS with a line search, no tolerances): after evaluation 10 no loss is over twice the lowest."
    small = dict(FAST, size=48)
    runs = {}
    for name, scheme in (("default", {}), ("tutorial", dict(param="clamp", optimizer="torch-lbfgs"))):
        rec = Recorder()
        runs[name] = (style_transfer(content, style, steps=60, callbacks=[rec], **small, **scheme), rec)
    losses = [r[2]["loss"] for r in runs["default"][1].rows]
    lowest = [min(losses[:i + 1]) for i in range(len(losses))]
    assert all(l <= 2 * lo for l, lo in zip(losses[10:], lowest[9:])), losses
    # one objective for both final images: the loss the default run optimised, at each returned image
    c, s = load_image(content, 48), load_image(style, 48)
    vgg = load_vgg19("random", last_layer="relu2_1")
    with FeatureExtractor(vgg, ["relu1_1", "relu2_1"]) as fx, torch.no_grad():
        loss_fn = T.make_transfer_loss(fx, c, s, ("relu2_1",), ("relu1_1", "relu2_1"))
        final = {name: float(loss_fn(img)[0]) for name, (img, _) in runs.items()}
    assert final["default"] < final["tutorial"], final

