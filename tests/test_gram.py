"Gram matrices, style/content losses and the Gram widget (lesson 05)."
import pytest
import torch

from stylecourse.gram import (GRAM_NORMS, GramExplorer, content_loss, draw_gram_entry, gram_matrix, gram_widget,
                              style_loss, toy_feature_map)


@pytest.fixture
def feats():
    return torch.randn(3, 5, 4, 6, generator=torch.Generator().manual_seed(0))


def test_matches_einsum_and_explicit_loop(feats):
    g = gram_matrix(feats, "none")
    assert g.shape == (3, 5, 5)
    torch.testing.assert_close(g, torch.einsum("bchw,bdhw->bcd", feats, feats), rtol=1e-5, atol=1e-5)
    x = torch.tensor([[[1., 2.], [0., -1.]], [[3., 0.], [1., 1.]]])   # [C=2, H=2, W=2]
    expected = torch.zeros(2, 2)
    for i in range(2):
        for j in range(2):
            expected[i, j] = sum(x[i, r, c] * x[j, r, c] for r in range(2) for c in range(2))
    torch.testing.assert_close(gram_matrix(x, "none"), expected)
    torch.testing.assert_close(gram_matrix(x, "none"), torch.tensor([[6., 2.], [2., 11.]]))


def test_each_normalisation(feats):
    raw = gram_matrix(feats, "none")
    torch.testing.assert_close(gram_matrix(feats), raw / 24)            # default "hw": H·W = 4·6
    torch.testing.assert_close(gram_matrix(feats, "hw"), raw / 24)
    torch.testing.assert_close(gram_matrix(feats, "chw"), raw / 120)    # C·H·W = 5·4·6
    assert GRAM_NORMS == ("hw", "chw", "none")
    # the lesson's toy map, whose entries the drawings show
    toy = toy_feature_map()
    torch.testing.assert_close(gram_matrix(toy, "none"), torch.tensor([[14., 10, 1], [10, 8, 1], [1, 1, 11]]))
    torch.testing.assert_close(gram_matrix(toy, "chw"), gram_matrix(toy, "none") / 27)


def test_symmetric_and_positive_semidefinite(feats):
    for norm in GRAM_NORMS:
        g = gram_matrix(feats, norm)
        torch.testing.assert_close(g, g.transpose(1, 2), rtol=1e-5, atol=1e-6)   # symmetric up to fp32 rounding
        g = g.double()
        eig = torch.linalg.eigvalsh(g)
        assert eig.min() >= -1e-9 * eig.abs().max()
    # more channels than positions: rank-deficient, still no negative eigenvalue
    g = gram_matrix(torch.randn(1, 16, 2, 2, dtype=torch.float64))[0]
    eig = torch.linalg.eigvalsh(g)
    assert eig.min() >= -1e-10 and (eig.abs() < 1e-10).sum() >= 12


def test_invariant_to_shuffling_positions(feats):
    b, c, h, w = feats.shape
    perm = torch.randperm(h * w, generator=torch.Generator().manual_seed(1))
    shuffled = feats.flatten(2)[..., perm].reshape(feats.shape)        # same permutation for every channel
    torch.testing.assert_close(gram_matrix(shuffled), gram_matrix(feats), rtol=1e-5, atol=1e-6)
    # shuffling each channel on its own keeps the diagonal but changes the rest
    own = torch.stack([feats[:, k].flatten(1)[:, torch.randperm(h * w)] for k in range(c)], 1).reshape(feats.shape)
    torch.testing.assert_close(gram_matrix(own).diagonal(dim1=1, dim2=2), gram_matrix(feats).diagonal(dim1=1, dim2=2))
    assert not torch.allclose(gram_matrix(own), gram_matrix(feats))


def test_batch_items_independent(feats):
    g = gram_matrix(feats)
    other = feats.clone()
    other[1] = 100 * torch.randn(5, 4, 6)
    g2 = gram_matrix(other)
    torch.testing.assert_close(g2[0], g[0])
    torch.testing.assert_close(g2[2], g[2])
    for k in range(3): torch.testing.assert_close(gram_matrix(feats[k]), g[k])   # unbatched in, unbatched out
    assert gram_matrix(feats[0]).shape == (5, 5)


def test_channels_last_and_grad(feats):
    cl = feats.to(memory_format=torch.channels_last)
    torch.testing.assert_close(gram_matrix(cl), gram_matrix(feats), rtol=1e-5, atol=1e-6)
    x = feats.clone().requires_grad_()
    gram_matrix(x).sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


@pytest.mark.parametrize("bad, match", [
    (dict(x=torch.zeros(2, 3, 4, 4), norm="area"), "norm must be"),
    (dict(x=torch.zeros(2, 3, 4, 4), norm=None), "norm must be"),
    (dict(x=torch.zeros(4, 4)), r"\[B,C,H,W\]"),
    (dict(x=torch.zeros(1, 2, 3, 4, 4)), r"\[B,C,H,W\]"),
    (dict(x=torch.zeros(1, 3, 0, 4)), "empty"),
])
def test_bad_arguments_value_error(bad, match):
    with pytest.raises(ValueError, match=match): gram_matrix(**bad)


def test_bad_types():
    with pytest.raises(TypeError, match="floating point"): gram_matrix(torch.ones(1, 2, 3, 3, dtype=torch.int64))
    with pytest.raises(TypeError, match="torch.Tensor"): gram_matrix([[[1.0]]])


def test_losses(feats):
    s = torch.rand(1, 5, 4, 6)
    target = gram_matrix(s)
    torch.testing.assert_close(style_loss(feats[:1], target), ((gram_matrix(feats[:1]) - target) ** 2).mean())
    assert style_loss(s, target).item() == 0
    torch.testing.assert_close(style_loss(feats[:1], gram_matrix(s, "chw"), "chw") * 25,
                               style_loss(feats[:1], target, "hw"))          # the C² between "chw" and "hw"
    # one target broadcast over a batch = the mean of the per-item losses
    per_item = torch.stack([style_loss(feats[k:k + 1], target) for k in range(3)]).mean()
    torch.testing.assert_close(style_loss(feats, target), per_item)
    torch.testing.assert_close(content_loss(feats, feats.flip(0)), ((feats - feats.flip(0)) ** 2).mean())
    with pytest.raises(ValueError, match="same layer"): style_loss(feats, gram_matrix(torch.rand(1, 4, 4, 6)))
    with pytest.raises(ValueError, match="same layer"): content_loss(feats, torch.rand(3, 5, 4, 5))


def test_widget_builds_headless_and_responds():
    w = gram_widget()
    assert isinstance(w, GramExplorer) and (w.i, w.j, w.value) == (0, 1, 10.0)
    assert w.readout.value.endswith("<b>10</b>")
    png = w.image.value
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    w.pick_j.value = 2                                  # pick another channel
    assert w.value == 1.0 and w.readout.value.endswith("<b>1</b>") and w.image.value != png
    w.toggles_i[6].value = False                        # switch off red where red and green meet
    assert w.value == 0.0 and w.fmap[0, 2, 0] == 0 and "<b>0</b>" in w.readout.value
    w.toggles_i[6].value = True
    assert w.value == 1.0
    w.toggles_i[1].value = True                         # a silent dot switched on gets activation 1
    assert w.fmap[0, 0, 1] == 1 and w.value == 3.0      # + 1·2 from green at position 1
    w.restore()
    torch.testing.assert_close(w.fmap, toy_feature_map())
    assert "application/vnd.jupyter.widget-view+json" in w._repr_mimebundle_()
    with pytest.raises(ValueError, match="small"): GramExplorer(torch.zeros(8, 3, 3))
    with pytest.raises(ValueError, match="i and j"): GramExplorer(i=0, j=3)


def test_draw_gram_entry_is_a_figure():
    fig = draw_gram_entry(toy_feature_map(), 2, 2)
    assert len(fig.axes) == 4 and "= 11" in fig._suptitle.get_text()


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
