"Tests for stylecourse.controls (lesson 11) and the controls it adds to style_transfer: each changes what it should."
import numpy as np
import pytest
from PIL import Image
import torch

from stylecourse.controls import (rgb_to_yiq, match_colors, sliced_wasserstein, random_directions,
                                  MeanCovStatistic, SlicedStatistic, GuidedGramStatistic, COLOR_MATCHES)
from stylecourse.gram import STYLE_STATISTICS, GramStatistic
from stylecourse.transfer import COLOR_MODES, TransferConfig, style_transfer
import stylecourse.transfer as T

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # random-weights warnings

FAST = TransferConfig(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"), weights="random", progress=False,
                      size=32, steps=6)
LOSS = {"gram": {}, "meancov": dict(style_loss="meancov"), "sliced": dict(style_loss="sliced", optimizer="lbfgs")}


def _img(h, w, seed):
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def content():
    y, x = torch.meshgrid(torch.linspace(0, 1, 24), torch.linspace(0, 1, 32), indexing="ij")
    return torch.stack([x, y, 0.5 + 0.3 * torch.sin(6 * x)]).clamp(0, 1)  # smooth, colourful


@pytest.fixture(scope="module")
def styles(): return [_img(32, 32, 1), _img(28, 20, 2) ** 2]


# --- the registries ---------------------------------------------------------------------------------------------

def test_lesson_11_registers_its_choices():
    assert list(STYLE_STATISTICS)[:1] == ["gram"] and {"meancov", "sliced"} <= set(STYLE_STATISTICS)
    assert STYLE_STATISTICS["guided-gram"] is GuidedGramStatistic and STYLE_STATISTICS["gram"] is GramStatistic and {"luminance", "histogram"} <= set(COLOR_MODES)
    assert set(TransferConfig.CHOICES["style_loss"]) >= {"gram", "meancov", "sliced"}
    import stylecourse.all as everything
    assert everything.match_colors is match_colors


# --- colour, in float64 -----------------------------------------------------------------------------------------





def test_match_colors_modes_differ_and_bad_input_fails():
    g = torch.Generator().manual_seed(1)
    s, t = torch.rand(3, 8, 8, generator=g, dtype=torch.float64), torch.rand(3, 8, 8, generator=g, dtype=torch.float64) ** 2
    outs = [match_colors(s, t, m) for m in COLOR_MATCHES]
    assert not torch.allclose(outs[0], outs[2])
    with pytest.raises(ValueError, match="unknown mode"): match_colors(s, t, "lab")
    with pytest.raises(ValueError, match=r"\[3,H,W\]"): match_colors(s[None], t)




def test_luminance_mode_keeps_the_contents_chroma(content, styles):
    out = style_transfer(content, styles[0], FAST, colors="luminance")
    inside = ((out > 1e-3) & (out < 1 - 1e-3)).all(0)
    assert inside.float().mean() > 0.5
    assert torch.allclose(rgb_to_yiq(out)[1:, inside], rgb_to_yiq(content)[1:, inside], atol=1e-4)
    plain = style_transfer(content, styles[0], FAST)
    assert (rgb_to_yiq(plain)[1:] - rgb_to_yiq(content)[1:]).abs().mean() > 0.01  # without it the chroma moves
    assert not torch.allclose(rgb_to_yiq(out)[0], rgb_to_yiq(content)[0], atol=1e-3)  # the luminance was styled


def test_luminance_callbacks_see_rgb_and_a_given_start_is_made_grey(content, styles):
    shapes = []
    out = style_transfer(content, styles[0], FAST, colors="luminance", steps=2, init=torch.rand(3, 12, 16),
                         callbacks=[lambda step, img, losses: shapes.append(tuple(img.shape))])
    assert shapes == [(3, 24, 32)] * 2 and out.shape == (3, 24, 32)


# --- several styles and masks ---------------------------------------------------------------------------------

@pytest.mark.parametrize("loss", ["gram", "meancov", "sliced"])
def test_blend_one_zero_is_the_single_style_run(content, styles, loss):
    one = style_transfer(content, styles[0], FAST, **LOSS[loss])
    blended = style_transfer(content, styles, FAST, style_blend=(1, 0), **LOSS[loss])
    assert torch.equal(one, blended)
    assert not torch.equal(one, style_transfer(content, styles, FAST, style_blend=(1, 1), **LOSS[loss]))


@pytest.mark.parametrize("loss", ["gram", "meancov", "sliced"])
def test_an_all_ones_mask_is_the_unmasked_run(content, styles, loss):
    plain = style_transfer(content, styles[0], FAST, **LOSS[loss])
    masked = style_transfer(content, styles[0], FAST, masks=[torch.ones(7, 9)], **LOSS[loss])
    assert torch.allclose(plain, masked, atol=2e-3)


def test_masks_place_the_styles(content, tmp_path):
    from stylecourse.images import save_image
    dark, light = torch.full((3, 32, 32), 0.1), torch.full((3, 32, 32), 0.9)
    left = torch.zeros(24, 32); left[:, :16] = 1
    save_image(torch.stack([1 - left] * 3), tmp_path / "right.png")  # a mask from a file, read as grey
    out = style_transfer(content, [dark, light], FAST.replace(steps=25, content_weight=0, init="noise"),
                         masks=[left, tmp_path / "right.png"])
    assert out[:, :, :12].mean() < out[:, :, 20:].mean() - 0.2  # the dark style left, the light one right


def test_guided_gram_weights_positions():
    f, t = torch.randn(1, 4, 6, 6), torch.randn(1, 4, 5, 5)
    g = GuidedGramStatistic("hw")
    top = torch.zeros(6, 6); top[:3] = 1
    assert torch.allclose(g.distance(f, g.target(t), mask=top), g.distance(f[..., :3, :], g.target(t)), rtol=1e-5)


def test_several_styles_bad_combinations_fail_before_any_work(content, styles, monkeypatch):
    monkeypatch.setattr(T, "load_image", lambda *a, **k: pytest.fail("an image was read"))
    with pytest.raises(ValueError, match="masks and style_blend"): FAST.replace(masks=[torch.ones(2, 2)] * 2, style_blend=(1, 1))
    with pytest.raises(ValueError, match="masks has 1 entries for 2 style"): style_transfer(content, styles, FAST, masks=[torch.ones(2, 2)])
    with pytest.raises(ValueError, match="style_blend has 3 entries"): style_transfer(content, styles, FAST, style_blend=(1, 2, 3))
    with pytest.raises(ValueError, match="style_blend"): FAST.replace(style_blend=(1, -1))


def test_a_bad_mask_is_a_value_error(content, styles):
    with pytest.raises(ValueError, match=r"masks must hold numbers in \[0,1\]"):
        style_transfer(content, styles[0], FAST, masks=[torch.full((4, 4), 2.0)])


# --- coarse to fine ---------------------------------------------------------------------------------------------

def test_coarse_to_fine_returns_the_size_within_the_budget(content, styles):
    steps, shapes = [], []
    def cb(step, img, losses): steps.append(step); shapes.append(tuple(img.shape))
    out = style_transfer(content, styles[0], FAST, scales=(12, 20), steps=(3, 4, 5), callbacks=[cb])
    assert out.shape == (3, 24, 32) and 0 <= out.min() and out.max() <= 1
    assert steps == list(range(1, len(steps) + 1)) and len(steps) <= 12
    assert shapes[0] == (3, 9, 12) and shapes[-1] == (3, 24, 32)


def test_coarse_to_fine_stop_at_a_coarse_level_returns_the_full_size(content, styles):
    out = style_transfer(content, styles[0], FAST, scales=(16,), steps=(5, 5), callbacks=[lambda s, i, l: s == 2])
    assert out.shape == (3, 24, 32)


@pytest.mark.parametrize("bad,match", [(dict(scales=(32,)), "below size"), (dict(scales=(20, 16)), "increase"),
                                       (dict(scales=(16,), steps=(1, 2, 3)), "steps has 3 counts"),
                                       (dict(size=32, scales=(1,), style_layers=("relu2_1",)), "scales=1 is too small")])
def test_bad_scales_fail(bad, match):
    with pytest.raises(ValueError, match=match): FAST.replace(**bad)


# --- statistics, in float64 -------------------------------------------------------------------------------------

def test_sliced_wasserstein_properties():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(1, 6, 5, 5, generator=g, dtype=torch.float64)
    b = torch.randn(1, 6, 5, 5, generator=g, dtype=torch.float64) * 0.5 + 1
    d = random_directions(6, 12, g).double()
    assert torch.allclose(d.norm(dim=0), torch.ones(12, dtype=torch.float64))
    shuffled = a.flatten(2)[..., torch.randperm(25, generator=g)].reshape(a.shape)
    assert sliced_wasserstein(a, shuffled, d) < 1e-12                           # a spatial permutation
    assert abs(sliced_wasserstein(a, b, d) - sliced_wasserstein(b, a, d)) < 1e-12  # symmetric
    assert sliced_wasserstein(a, b, d) > 0.1                                     # different distributions
    big = torch.cat([a, a], -1)                                                 # the same distribution, twice the positions
    assert sliced_wasserstein(a, big, d) < 1e-12
    with pytest.raises(ValueError, match="directions"): sliced_wasserstein(a, b, d[:3])




def test_sliced_statistic_is_seeded_and_draws_fresh_directions():
    a, b = torch.randn(1, 4, 5, 5), torch.randn(1, 4, 5, 5)
    s1, s2 = SlicedStatistic(seed=1), SlicedStatistic(seed=1)
    x = a.clone().requires_grad_()
    def evaluations(s): return [(v.item(), torch.autograd.grad(v, x)[0]) for v in (s.distance(x, s.target(b)) for _ in range(2))]
    (v1, g1), (v2, g2) = evaluations(s1)
    assert v1 == v2 and not torch.allclose(g1, g2)   # one fixed ruler for the value; a fresh draw for each gradient
    assert [v for v, _ in evaluations(s2)] == [v1, v2] and torch.equal(evaluations(SlicedStatistic(seed=1))[1][1], g2)  # seeded


def test_meancov_statistic_float64():
    b = torch.randn(1, 5, 4, 6, dtype=torch.float64) * 2 + 1
    mu, cov = MeanCovStatistic().target(b)
    assert torch.allclose(cov[0], torch.cov(b.flatten(2)[0], correction=0), atol=1e-12)
    assert torch.allclose(mu[0], b.flatten(2)[0].mean(1), atol=1e-12)
    assert MeanCovStatistic().distance(b, (mu, cov)).item() == 0.0
    assert MeanCovStatistic().distance(b * 2, (mu, cov)) > 0


# --- tiles ----------------------------------------------------------------------------------------------------

def _seam_ratio(t):
    seam = ((t[:, :, 0] - t[:, :, -1]) ** 2).mean() + ((t[:, 0] - t[:, -1]) ** 2).mean()
    inner = ((t[:, :, 1:] - t[:, :, :-1]) ** 2).mean() + ((t[:, 1:] - t[:, :-1]) ** 2).mean()
    return (seam / inner).item()


def test_a_tileable_texture_has_no_rougher_seam(styles):
    cfg = FAST.replace(size=32, steps=30, content_weight=0, init="noise")
    stripes = torch.zeros(3, 32, 32); stripes[:, :, ::8] = 1; stripes[:, :, 1::8] = 1  # sharp, regular structure
    tiled = style_transfer(stripes, stripes, cfg, tileable=True)
    plain = style_transfer(stripes, stripes, cfg)
    assert _seam_ratio(tiled) <= 1.25 and _seam_ratio(tiled) < _seam_ratio(plain)


def test_tileable_leaves_no_circular_padding_behind(content, styles, monkeypatch):
    made = []
    real = T.load_vgg19
    monkeypatch.setattr(T, "load_vgg19", lambda *a, **k: made.append(real(*a, **k)) or made[-1])
    style_transfer(content, styles[0], FAST, tileable=True, steps=1)
    style_transfer(content, styles[0], FAST, steps=1)
    convs = [[m.padding_mode for m in vgg.modules() if isinstance(m, torch.nn.Conv2d)] for vgg in made]
    assert set(convs[0]) == {"circular"} and set(convs[1]) == {"zeros"}


# --- the later choices without lesson 11 -------------------------------------------------------------------------

def test_a_stochastic_statistic_gets_an_optimiser_without_a_line_search_unless_one_is_named():
    assert FAST.replace(style_loss="sliced").optimizer == "lbfgs"                 # left out: the one that fits
    assert FAST.replace(style_loss="sliced").replace(style_loss="gram").optimizer == TransferConfig.optimizer
    with pytest.raises(ValueError, match="misleads a line search"): FAST.replace(style_loss="sliced", optimizer="lbfgs-wolfe")
    with pytest.raises(ValueError, match="misleads a line search"):
        FAST.replace(style_loss="sliced", optimizer="lbfgs", opt_kwargs={"line_search_fn": "strong_wolfe"})
    assert FAST.replace(style_loss="sliced", optimizer="adam").style_loss == "sliced"


def test_without_lesson_11_the_error_says_what_to_import():
    import subprocess, sys
    code = ("from stylecourse.transfer import TransferConfig\n"
            "for bad in (dict(colors='luminance'), dict(style_loss='sliced'), dict(masks=[[0.5]])):\n"
            "    try: TransferConfig(**bad)\n"
            "    except ValueError as e: print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300).stdout.splitlines()
    assert len(out) == 3 and all("import stylecourse.controls" in line for line in out), out


def test_transparent_mask_pixels_count_as_outside(tmp_path, content):
    rgba = np.zeros((24, 32, 4), dtype=np.uint8)
    rgba[:, :16] = 255                                  # white and opaque on the left, transparent on the right
    Image.fromarray(rgba, "RGBA").save(tmp_path / "left.png")
    left = torch.zeros(24, 32, dtype=torch.bool); left[:, :16] = True
    for mask in (tmp_path / "left.png", left):          # a file with transparency, and a bool tensor
        _, _, masks = T._level_images(content, [content], [mask], 32, ["relu1_1"], ["relu1_1"], torch.device("cpu"))
        assert masks[0][:, :16].min() == 1.0 and masks[0][:, 16:].max() == 0.0, mask


def test_a_mask_that_is_zero_everywhere_is_refused(content):
    with pytest.raises(ValueError, match="mask 2 is 0 everywhere"):
        style_transfer(content, [content, content], FAST, masks=[torch.ones(24, 32), torch.zeros(24, 32)])


def test_colour_and_sliced_helpers_refuse_what_they_would_get_wrong():
    img = (torch.rand(3, 8, 8) * 255).to(torch.uint8)
    with pytest.raises(ValueError, match="finite floats"): match_colors(img, img)                      # uint8 would wrap
    with pytest.raises(ValueError, match="finite floats"): match_colors(torch.full((3, 4, 4), float("nan")), torch.rand(3, 4, 4))
    with pytest.raises(ValueError, match="finite floats"): match_colors(torch.rand(3, 0, 4), torch.rand(3, 4, 4))
    with pytest.raises(ValueError, match="needs floats"): rgb_to_yiq(img)                               # not all zeros
    a, d = torch.rand(1, 4, 5, 5), random_directions(4, 3, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="K ≥ 1"): sliced_wasserstein(a, a, d[:, :0])                     # no NaN
    with pytest.raises(ValueError, match="compares"): sliced_wasserstein(a, torch.rand(2, 4, 5, 5), d)      # not b[0] alone
    with pytest.raises(ValueError, match="compares"): sliced_wasserstein(a, torch.rand(1, 3, 5, 5), d)      # channels
    with pytest.raises(ValueError, match="compares"): sliced_wasserstein(a, torch.rand(1, 4, 0, 5), d)      # no positions
    assert sliced_wasserstein(torch.rand(2, 4, 5, 5), torch.rand(2, 4, 3, 3), d).shape == ()                # equal batches
