"""The figures: titles fit the figure, loss axes read as plain numbers, raster axes count whole neurons."""
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

import fpsnn
from fpsnn import plots


@pytest.fixture(scope="module")
def net_and_input():
    rng = np.random.default_rng(1)
    net = fpsnn.Network(weights=[rng.normal(1.5, 0.5, (3, 8)), rng.normal(0.8, 0.4, (8, 2))],
                        alpha=0.999, beta=1.0, theta=1.0, t_max=2.0, max_spikes=2)
    return net, np.array([[0.1, 0.7, 1.3]])


def _drawn(fig):
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def test_a_long_membrane_title_wraps_inside_the_figure(net_and_input):
    net, x = net_and_input
    fig = plots.membrane_figure(net, x, n_points=50, title="Yin-Yang (test): output potentials, sample 123 (class 2)")
    renderer = _drawn(fig)
    title = fig.axes[0].title
    box, width = title.get_window_extent(renderer), fig.bbox.width
    assert "\n" in title.get_text()
    assert box.x0 >= 0 and box.x1 <= width, (box, width)


@pytest.mark.parametrize("losses, scale", [([1.12, 1.108, 1.104, 1.1], "linear"), ([2.0, 0.5, 0.1, 0.01], "log")])
def test_loss_axis_labels_are_plain_numbers(losses, scale):
    history = [{"epoch": i, "loss": v, "train_accuracy": 0.5, "test_accuracy": 0.5} for i, v in enumerate(losses)]
    fig = plots.training_figure(history)
    _drawn(fig)
    ax = fig.axes[0]
    assert ax.get_yscale() == scale
    labels = [t.get_text() for t in ax.get_yticklabels() + ax.get_yticklabels(minor=True) if t.get_text()]
    assert labels and not any("10^" in s or "times" in s or "×" in s for s in labels), labels
    for s in labels:
        float(s.replace("\u2212", "-"))                            # every label is a plain number


def test_raster_ticks_only_whole_neurons(net_and_input):
    net, x = net_and_input
    fig = plots.raster_figure(net, x)
    _drawn(fig)
    for ax in fig.axes:
        ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
