"Tests for stylecourse.optimize: the evaluation budget, callbacks, stopping, parameterisations, bad arguments."
import math, warnings

import pytest
import torch
import torch.nn.functional as F

from stylecourse.optimize import FrameRecorder, LossHistory, optimize_image


@pytest.fixture
def task():
    "A small pixel-copy problem: a random target and a different random start, both [3,8,10] in [0,1]."
    g = torch.Generator().manual_seed(0)
    return torch.rand(3, 8, 10, generator=g), torch.rand(3, 8, 10, generator=g)


class Counter:
    "MSE to `target`; counts its calls and can misbehave (interrupt, NaN) at call `at`."
    def __init__(self, target, at=None, fail=None): self.target, self.calls, self.at, self.fail = target, 0, at, fail
    def __call__(self, img):
        self.calls += 1
        if self.calls == self.at and self.fail == "interrupt": raise KeyboardInterrupt
        loss = F.mse_loss(img, self.target.reshape(img.shape))
        if self.calls == self.at and self.fail == "nan": loss = loss * float("nan")
        return loss


def run(target, init, **kw):
    kw.setdefault("progress", False)
    lf = Counter(target, kw.pop("at", None), kw.pop("fail", None))
    try: return optimize_image(lf, init, **kw), lf
    except KeyboardInterrupt: pytest.fail("optimize_image let a KeyboardInterrupt escape")  # not abort the session


# --- the budget: steps = loss evaluations -------------------------------------------------------------------

@pytest.mark.parametrize("opt", ["adam", "sgd"])
@pytest.mark.parametrize("steps", [1, 2, 17])
def test_steps_exact_one_eval_optimisers(task, opt, steps):
    target, init = task
    _, lf = run(target, init, steps=steps, opt=opt)
    assert lf.calls == steps


@pytest.mark.parametrize("steps", [1, 2, 7, 20, 21, 45])
@pytest.mark.parametrize("max_iter", [1, 5, 20])
def test_steps_exact_lbfgs_without_line_search(task, steps, max_iter):
    target, init = task
    # a sum loss keeps L-BFGS away from its convergence tolerances, so every .step() does real work
    lf = lambda img: F.mse_loss(img, target, reduction="sum")
    h = LossHistory()
    optimize_image(lf, init, steps=steps, opt="torch-lbfgs", opt_kwargs=dict(max_iter=max_iter), callbacks=[h],
                   progress=False)
    assert h.steps == list(range(1, steps + 1))


def test_steps_exact_lbfgs_after_convergence(task):
    "Once L-BFGS has converged each .step() evaluates once and returns; the budget is still spent exactly."
    target, init = task
    _, lf = run(target, init, steps=60, opt="torch-lbfgs")
    assert lf.calls == 60


@pytest.mark.parametrize("steps", [1, 3, 10, 30])
def test_steps_upper_bound_with_line_search(task, steps):
    target, init = task
    lf = lambda img: F.mse_loss(torch.sin(3 * img), torch.sin(3 * target), reduction="sum")  # not a quadratic
    h = LossHistory()
    optimize_image(lf, init, steps=steps, opt="torch-lbfgs", opt_kwargs=dict(line_search_fn="strong_wolfe"),
                   callbacks=[h], progress=False)
    assert steps <= len(h) <= steps + 25  # at most one line search (≤ 25 evaluations) past the budget


def test_lbfgs_limits_restored_on_user_optimizer(task):
    "The per-step cap is temporary: a user's optimizer gets its own max_iter/max_eval back."
    target, init = task
    made = []
    def factory(params):
        made.append(torch.optim.LBFGS(params, max_iter=8, max_eval=11))
        return made[0]
    run(target, init, steps=5, opt=factory)
    assert made[0].param_groups[0]["max_iter"] == 8 and made[0].param_groups[0]["max_eval"] == 11


# --- callbacks -------------------------------------------------------------------------------------------------

def test_callbacks_get_1_based_steps_image_and_losses(task):
    target, init = task
    seen = []
    def cb(step, image, losses):
        seen.append((step, image.shape, image.requires_grad, dict(losses)))
    run(target, init, steps=4, callbacks=[cb])
    assert [s for s, *_ in seen] == [1, 2, 3, 4]
    assert all(shape == init.shape and not rg for _, shape, rg, _ in seen)
    assert all(isinstance(l["loss"], float) for *_, l in seen)
    assert seen[0][3]["loss"] == pytest.approx(F.mse_loss(init, target).item())


def test_parts_are_logged(task):
    target, init = task
    def lf(img):
        a, b = F.mse_loss(img, target), (img - 0.5).abs().mean()
        return a + b, {"mse": a, "dist": b.item()}
    h = LossHistory()
    optimize_image(lf, init, steps=3, callbacks=[h], progress=False)
    assert set(h.losses) == {"loss", "mse", "dist"}
    assert all(len(v) == 3 for v in h.losses.values())
    assert h.losses["loss"][0] == pytest.approx(h.losses["mse"][0] + h.losses["dist"][0], rel=1e-5)


def test_callback_returning_true_stops(task):
    target, init = task
    stop_at = lambda step, image, losses: step == 5
    h = LossHistory()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a requested stop is not a warning
        out, lf = run(target, init, steps=50, callbacks=[h, stop_at])
    assert lf.calls == 5 and h.steps == [1, 2, 3, 4, 5]
    assert F.mse_loss(out, target).item() == pytest.approx(min(h.losses["loss"]))


def test_every_callback_sees_the_stopping_evaluation(task):
    target, init = task
    h = LossHistory()
    run(target, init, steps=50, callbacks=[lambda *a: a[0] == 3, h])
    assert h.steps == [1, 2, 3]


def test_single_callable_callback(task):
    target, init = task
    h = LossHistory()
    run(target, init, steps=3, callbacks=h)
    assert h.steps == [1, 2, 3]


def test_frame_recorder(task):
    target, init = task
    fr = FrameRecorder(every=4)
    out, _ = run(target, init, steps=10, callbacks=[fr])
    assert [s for s, _ in fr.frames] == [1, 4, 8]
    assert torch.allclose(fr.frames[0][1], init)  # clones, not views of the changing image
    assert not torch.equal(fr.frames[1][1], fr.frames[2][1])
    with pytest.raises(ValueError): FrameRecorder(every=0)


# --- stopping early: interrupt and non-finite losses ------------------------------------------------------------

def test_keyboard_interrupt_returns_best_so_far(task):
    target, init = task
    with pytest.warns(RuntimeWarning, match="interrupted"):
        out, lf = run(target, init, steps=100, at=30, fail="interrupt", lr=0.05)
    assert lf.calls == 30
    assert out.shape == init.shape and not out.requires_grad
    assert F.mse_loss(out, target) < F.mse_loss(init, target)


def test_keyboard_interrupt_in_lbfgs(task):
    target, init = task
    with pytest.warns(RuntimeWarning, match="interrupted"):
        out, lf = run(target, init, steps=100, at=4, fail="interrupt", opt="torch-lbfgs")
    assert F.mse_loss(out, target) < F.mse_loss(init, target)


@pytest.mark.parametrize("opt", ["adam", "torch-lbfgs"])
def test_nan_loss_returns_best_and_warns(task, opt):
    target, init = task
    h = LossHistory()
    with pytest.warns(RuntimeWarning, match="nan"):
        out, lf = run(target, init, steps=100, at=6, fail="nan", opt=opt, callbacks=[h])
    assert lf.calls == 6 and len(h) == 5  # the bad evaluation is not logged
    assert torch.isfinite(out).all()
    assert F.mse_loss(out, target).item() == pytest.approx(min(h.losses["loss"]))
    assert F.mse_loss(out, target) < F.mse_loss(init, target)


def test_nan_at_first_evaluation_returns_init(task):
    target, init = task
    with pytest.warns(RuntimeWarning, match="nan"):
        out, _ = run(target, init, steps=10, at=1, fail="nan")
    assert torch.allclose(out, init)


def test_inf_loss_stops(task):
    target, init = task
    with pytest.warns(RuntimeWarning, match="inf"):
        out = optimize_image(lambda img: img.sum() * float("inf"), init, steps=10, progress=False)
    assert torch.allclose(out, init)


# --- the image: range, best, shape -----------------------------------------------------------------------------

@pytest.mark.parametrize("param", ["clamp", "sigmoid"])
def test_values_stay_in_unit_range(task, param):
    target, _ = task
    # the loss pulls pixels far outside [0,1]; the parameterisation must keep every evaluated image inside
    lf = lambda img: ((img - 3 * target + 1) ** 2).mean()
    def check(step, image, losses): assert 0 <= image.min() and image.max() <= 1
    out = optimize_image(lf, torch.rand(3, 8, 10), steps=40, lr=0.5, param=param, callbacks=[check],
                         progress=False)
    assert 0 <= out.min() and out.max() <= 1


def test_init_outside_range_is_clamped():
    out = optimize_image(lambda img: img.mean(), torch.randn(3, 4, 4) * 5, steps=1, progress=False)
    assert 0 <= out.min() and out.max() <= 1


def test_returns_best_not_last(task):
    "SGD with a far too large learning rate makes the loss go up: the best image is the first one."
    target, init = task
    h = LossHistory()
    out, _ = run(target, init, steps=6, opt="sgd", lr=10 * target.numel(), callbacks=[h])
    losses = h.losses["loss"]
    assert losses[-1] > losses[0]
    assert F.mse_loss(out, target).item() == pytest.approx(min(losses))


def test_sgd_half_n_copies_in_one_step(task):
    "The lesson's claim: with MSE, SGD at lr = N/2 lands on the target after one update."
    target, init = task
    out, _ = run(target, init, steps=2, opt="sgd", lr=target.numel() / 2)
    assert torch.allclose(out, target, atol=1e-6)


@pytest.mark.parametrize("shape", [(3, 8, 10), (1, 3, 8, 10)])
@pytest.mark.parametrize("opt", ["adam", "torch-lbfgs"])
@pytest.mark.parametrize("param", ["clamp", "sigmoid"])
def test_output_shape_matches_init(task, shape, opt, param):
    target, _ = task
    init = torch.rand(shape)
    shapes = []
    def lf(img):
        shapes.append(img.shape)
        return F.mse_loss(img, target.reshape(img.shape))
    out = optimize_image(lf, init, steps=3, opt=opt, param=param, progress=False)
    assert out.shape == init.shape and set(shapes) == {init.shape}
    assert out.dtype == init.dtype and not out.requires_grad


def test_non_contiguous_init_works_with_lbfgs(task):
    target, _ = task
    init = torch.rand(8, 10, 3).permute(2, 0, 1)  # e.g. an HWC array viewed as CHW
    out, _ = run(target, init, steps=5, opt="torch-lbfgs")
    assert out.shape == init.shape


def test_init_is_not_modified(task):
    target, init = task
    before = init.clone()
    run(target, init, steps=5)
    assert torch.equal(init, before)


# --- optimisers --------------------------------------------------------------------------------------------------

def test_custom_optimizer_factory(task):
    target, init = task
    made = []
    def factory(params):
        made.append(torch.optim.RMSprop(params, lr=0.01))
        return made[-1]
    out, lf = run(target, init, steps=12, opt=factory)
    assert len(made) == 1 and isinstance(made[0], torch.optim.RMSprop)
    assert lf.calls == 12 and F.mse_loss(out, target) < F.mse_loss(init, target)


def test_optimizer_class_with_lr_and_kwargs(task):
    target, init = task
    out, lf = run(target, init, steps=10, opt=torch.optim.SGD, lr=50.0, opt_kwargs=dict(momentum=0.5))
    assert lf.calls == 10 and F.mse_loss(out, target) < F.mse_loss(init, target)


def test_lbfgs_like_factory_gets_budget(task):
    "A factory returning an L-BFGS (later lessons pass their own) gets the same exact budget."
    target, init = task
    _, lf = run(target, init, steps=13, opt=lambda ps: torch.optim.LBFGS(ps, max_iter=100))
    assert lf.calls == 13


@pytest.mark.parametrize("opt", ["sgd", "adam", "torch-lbfgs"])
def test_named_optimisers_reduce_loss(task, opt):
    target, init = task
    lr = {"sgd": target.numel() / 4, "adam": None, "torch-lbfgs": None}[opt]
    out, _ = run(target, init, steps=30, opt=opt, lr=lr)
    assert F.mse_loss(out, target) < 0.1 * F.mse_loss(init, target)


def test_progress_bar_runs(task, capsys):
    target, init = task
    out, _ = run(target, init, steps=3, progress=True, desc="copy")
    assert "copy" in capsys.readouterr().err


# --- bad arguments -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, match", [
    (dict(steps=0), "steps"), (dict(steps=-3), "steps"), (dict(steps=2.5), "steps"), (dict(steps=True), "steps"),
    (dict(opt="rmsprop"), "unknown opt"), (dict(opt=3), "unknown opt"),
    (dict(param="tanh"), "unknown param"),
    (dict(lr=0), "lr"), (dict(lr=-1.0), "lr"), (dict(lr=float("nan")), "lr"),
    (dict(opt_kwargs=[("lr", 1)]), "opt_kwargs"),
    (dict(callbacks=[3]), "callback"),
    (dict(opt=lambda ps: object()), "step"),
])
def test_bad_arguments(task, kw, match):
    target, init = task
    with pytest.raises(ValueError, match=match):
        optimize_image(lambda img: F.mse_loss(img, target), init, progress=False, **kw)


@pytest.mark.parametrize("init", [torch.zeros(3, 4, 4, dtype=torch.uint8), torch.zeros(3, 4, 4, dtype=torch.long),
                                  [[0.5]], None, torch.zeros(0, 4), torch.full((3, 2, 2), float("nan"))])
def test_bad_init(init):
    with pytest.raises(ValueError, match="init"):
        optimize_image(lambda img: img.mean(), init, progress=False)


def test_bad_loss_fn_results():
    init = torch.rand(3, 4, 4)
    with pytest.raises(ValueError, match="callable"): optimize_image(None, init, progress=False)
    with pytest.raises(ValueError, match="scalar"): optimize_image(lambda x: x, init, progress=False)
    with pytest.raises(ValueError, match="scalar"): optimize_image(lambda x: 1.0, init, progress=False)
    with pytest.raises(ValueError, match="depend"):
        optimize_image(lambda x: torch.tensor(1.0), init, progress=False)
    with pytest.raises(ValueError, match="pair"): optimize_image(lambda x: (x.mean(), 1, 2), init, progress=False)
