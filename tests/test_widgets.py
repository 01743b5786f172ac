"Lesson 08's StyleTransferApp without a browser: build, run, stop within one evaluation, save atomically, errors."
import io, time
from datetime import datetime, timezone

import ipywidgets as W
import pytest
import torch
from PIL import Image

from stylecourse.images import load_image
from stylecourse.samples import STYLE_NAMES
from stylecourse.widgets import StyleTransferApp, style_app, to_png, loss_png, UPLOAD, GIVEN

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # untrained VGG19 in tests: the warning is expected


def make_app(**kw):
    return StyleTransferApp(**({"size": 32, "steps": 3, "every": 1, "weights": "random"} | kw))


def wait_for(cond, timeout=60):
    end = time.time() + timeout
    while not cond():
        if time.time() > end: raise AssertionError("timed out waiting")
        time.sleep(0.005)


def test_builds_headless():
    app = make_app()
    assert isinstance(app.widget, W.VBox) and "stylecourse-app" in app.widget._dom_classes
    assert app.preview.value[:8] == b"\x89PNG\r\n\x1a\n" and app.content_view.value and app.style_view.value
    assert app.style_pick.options == (*STYLE_NAMES, UPLOAD)
    assert not app.running and app.stop_button.disabled and app.save_button.disabled and not app.run_button.disabled
    assert "application/vnd.jupyter.widget-view+json" in app._repr_mimebundle_()
    assert isinstance(style_app(weights="random"), StyleTransferApp)


def test_given_images_and_uploads():
    content, style = torch.rand(3, 40, 20), torch.rand(3, 16, 16)
    app = make_app(content=content, style=style)
    assert app.content_pick.value == GIVEN and app.style_pick.value == GIVEN
    c, s = app.images(32)
    assert c.shape == (3, 32, 16) and s.shape == (3, 32, 32)
    bad = ({"name": "x.txt", "type": "text/plain", "size": 3, "content": memoryview(b"abc"),
            "last_modified": datetime.now(timezone.utc)},)
    app.content_upload.value = bad
    assert app.content_pick.value == UPLOAD and "x.txt: not an image" in app.status.value
    with pytest.raises(ValueError, match="not an image"): app.run(wait=True)
    assert not app.running and not app.run_button.disabled


def test_short_run_updates_preview():
    app = make_app(steps=4, every=2)
    before = app.preview.value
    result = app.run(wait=True).result
    assert app.step == 4 and app.steps == [1, 2, 3, 4] and len(app.losses["loss"]) == 4
    assert app.previews == 4 // 2 + 1                      # every 2 evaluations, then the final best image
    assert app.preview.value != before and app.loss_plot.value[:4] == b"\x89PNG"
    assert result.shape == (3, 32, 27) and 0 <= result.min() and result.max() <= 1
    assert torch.equal(result, app.best[1]) and app.best[0] == min(app.losses["loss"])
    assert "done: 4 evaluations" in app.status.value and not app.save_button.disabled


def test_stop_within_one_evaluation():
    app = make_app(steps=1000, every=1)
    app.run()
    assert app.running and not app.stop_button.disabled and app.run_button.disabled
    app.run()                                              # a second Run while running is refused, not queued
    assert "already running" in app.status.value
    wait_for(lambda: app.step >= 2 or not app.running)
    app.stop_button.click()                               # what a click in the browser does
    result = app.wait(timeout=120)
    assert not app.running
    assert app.stop_step >= 2 and app.step - app.stop_step <= 1, (app.stop_step, app.step)
    assert app.step < 1000 and result is not None and torch.equal(result, app.best[1])
    assert f"stopped after evaluation {app.step}" in app.status.value
    app.stop()                                             # stopping when idle does nothing
    assert not app.running


def test_save_is_atomic_and_reports_errors(tmp_path):
    app = make_app()
    assert app.save(tmp_path / "early.png") is None and "nothing to save yet" in app.status.value
    app.run(wait=True)
    out = app.save(tmp_path / "out.png")
    assert out == tmp_path / "out.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temporary file left behind
    back = load_image(out)
    assert back.shape == app.result.shape and (back - app.result).abs().max() <= 1 / 255 + 1e-6
    app.save_path.value = str(tmp_path / "button.png")
    app.save_button.click()
    assert (tmp_path / "button.png").exists() and "saved" in app.status.value
    assert app.save(tmp_path / "no" / "such" / "dir.png") is None and "could not save" in app.status.value
    assert app.save(tmp_path / "bad.suffix") is None and "could not save" in app.status.value
    assert sorted(p.name for p in tmp_path.iterdir()) == ["button.png", "out.png"]


def test_errors_in_the_thread_are_shown_and_raised(tmp_path):
    with pytest.raises(ValueError, match="no-such-optimizer"): make_app(optimizer="no-such-optimizer")  # checked at once
    (tmp_path / "w.pth").write_bytes(b"not a state dict")
    app = make_app(weights=str(tmp_path / "w.pth"))  # found only when the run loads VGG19, in the thread
    with pytest.raises(ValueError, match="w.pth"): app.run(wait=True)
    assert "error:" in app.status.value and app.result is None
    assert not app.running and not app.run_button.disabled and app.stop_button.disabled


def test_pictures():
    png = to_png(torch.rand(3, 10, 20), size=8)
    assert Image.open(io.BytesIO(png)).size == (8, 4)
    assert loss_png([1, 2, 3], {"loss": [3.0, 2.0, 1.0], "content": [0.0, 0.1, 0.2]})[:4] == b"\x89PNG"
    app = make_app()
    app.run(wait=True)
    fig = app.snapshot()
    assert len(fig.axes) == 4 and fig.axes[3].lines


def test_the_colour_menu_lists_every_mode_and_reaches_the_run():
    from stylecourse.controls import rgb_to_yiq
    app = make_app(steps=2)
    assert app.colors.options == ("style", "luminance", "histogram") and app.colors.value == "style"
    assert app.colors in app.widget.children[0].children[0].children  # shown among the controls
    app.colors.value = "luminance"
    out = app.run(wait=True).wait()
    content, _ = app.images()
    inside = ((out > 1e-3) & (out < 1 - 1e-3)).all(0)
    assert torch.allclose(rgb_to_yiq(out)[1:, inside], rgb_to_yiq(content)[1:, inside], atol=1e-4)  # the photo's chroma
    assert app.preview.value[:8] == b"\x89PNG\r\n\x1a\n"  # the preview got RGB frames
