"""The workshop's sessions and charts, without a browser: safe with threads, true to the room."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from chainsim.workshop.charts import (CHART_HEIGHT, ITEM_GAP, LEGEND_WIDTH, PANELS,
                                      PROJECTOR_PANELS, _label, chart_option, chart_parts,
                                      legend_lines)
from chainsim.workshop.session import SPEEDS, Session, frame_interval


@pytest.fixture(autouse=True)
def _verdicts_in_process(monkeypatch):
    """The weakest link is worked out here, not in a worker process (fast, no spawn)."""
    from chainsim.workshop import business

    monkeypatch.setattr(business.VERDICTS, "_workers", 0)


def test_a_story_switch_keeps_compare_and_speed_and_compare_keeps_the_rooms_change():
    """Issue 12: pick a story, move a slider, tick Compare: the proposal keeps the change;
    then another story: still two businesses, the speed as it was."""
    s = Session("balanced")
    s.set_speed(60)
    s.switch("weak_operations")
    s.change("operations.capacity", 50)
    snap = s.set_compare(True)
    caps = [dict((l["name"], l["capacity"]) for l in b.links)["operations"]
            for b in snap.businesses]
    assert [b.label for b in snap.businesses] == ["as it is", "the room's proposal"]
    assert caps == [35, 50]
    snap = s.switch("lawn_care")
    assert snap.compare and len(snap.businesses) == 2 and snap.speed == 60
    assert snap.changes == ()  # the room's changes were about the other story


def test_a_change_is_marked_on_the_day_it_happened_and_a_bad_one_is_refused():
    s = Session("weak_operations", seed=3)
    s.step(12)
    snap = s.change("operations.capacity", 60)
    assert [(m.day, m.text) for m in snap.marks] == [(12, "Operations capacity 35 -> 60")]
    snap = s.change("operations.quality", 1.5)
    assert "operations.quality = 1.5 is not allowed" in snap.error
    assert dict(snap.changes) == {"operations.capacity": 60}  # the refused one is not kept
    assert s.change("operations.quality", 0.97).error is None


def test_snapshots_are_frozen_while_the_business_moves_on():
    s = Session("balanced", seed=2)
    s.step(10)
    snap = s.snapshot()
    before = {c: v.copy() for c, v in snap.businesses[0].series.items()}
    s.step(20)
    assert snap.day == 10 and len(snap.businesses[0].series["deliveries"]) == 10
    for c, v in snap.businesses[0].series.items():
        np.testing.assert_array_equal(v, before[c])


def test_playing_drawing_and_moving_sliders_at_once_never_breaks():
    """Issue 12: the play thread stepped the model while charts and follow-a-customer read
    the same arrays. Here one thread plays flat out while others draw and move sliders."""
    s = Session("weak_operations", seed=1)
    s.set_playing(True)
    errors: list[BaseException] = []
    stop = threading.Event()

    def guard(fn):
        def run():
            try:
                while not stop.is_set():
                    fn()
            except BaseException as err:  # noqa: BLE001 - collected and re-raised below
                errors.append(err)
        return run

    def play():
        s.frame(0.5)

    def draw():
        snap = s.snapshot()
        chart_parts(snap)
        if snap.follow:
            assert snap.follow["journey"] == sorted(snap.follow["journey"],
                                                    key=lambda r: r["day"])
        for b in snap.businesses:
            lengths = {len(v) for v in b.series.values()}
            assert len(lengths) == 1, lengths  # every column as long as the others

    values = iter(np.linspace(20, 80, 10_000))

    def slide():
        s.change("operations.capacity", float(next(values)))
        s.follow_another()

    threads = [threading.Thread(target=guard(f)) for f in (play, draw, draw, slide)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert s.snapshot().day > 30


def test_a_frame_advances_the_days_due_at_the_chosen_speed_and_stops_when_closed():
    s = Session("balanced")
    assert s.frame(1.0).day == 0  # not playing: nothing moves
    s.set_playing(True)
    assert s.frame(0.1).day == 3  # 30 days a second
    s.set_speed(10)
    assert s.frame(0.25).day == 5  # 2.5 days: two now, the half kept for later
    assert s.frame(0.25).day == 8
    s.close()
    assert s.frame(1.0).day == 8 and not s.playing
    with pytest.raises(ValueError, match="speed 7 is not offered"):
        s.set_speed(7)
    assert SPEEDS[0] == 30  # the default


def test_many_pages_playing_share_the_redraws():
    pages = [Session("balanced") for _ in range(20)]
    alone = frame_interval()
    for p in pages:
        p.set_playing(True)
    crowded = frame_interval()
    for p in pages:
        p.close()
    assert alone == pytest.approx(0.1)  # ten redraws a second for one page
    assert 0.1 < crowded <= 1.0  # at least a redraw a second each, fewer than alone
    assert frame_interval() == pytest.approx(alone)


def test_the_chart_option_draws_every_column_once_per_business():
    s = Session("lawn_care", compare=True, seed=5)
    s.step(5)
    s.change("operations.capacity", 40)
    snap = s.step(40)
    option = chart_option(snap)
    columns = [c for _, _, cols, _ in PANELS for c in cols]
    assert len(option["series"]) == 2 * len(columns) and len(option["grid"]) == len(PANELS)
    dashed = [x for x in option["series"] if x["lineStyle"]["type"] == "dashed"]
    assert len(dashed) == len(columns) and all(x["datasetIndex"] == 1 for x in dashed)
    source = option["dataset"][1]["source"]
    assert source["day"] == list(range(1, 46))
    assert source["deliveries"][-1] is not None
    marks = [x["markLine"]["data"] for x in option["series"] if "markLine" in x]
    assert len(marks) == len(PANELS) and marks[0][0]["xAxis"] == 5
    layout, data = chart_parts(snap)
    assert "dataset" not in json.loads(layout) and json.loads(data)["xAxis"][0]["max"] == 45
    projector = chart_option(snap, projector=True)
    assert len(projector["grid"]) == len(PROJECTOR_PANELS)
    assert projector["title"][0]["textStyle"]["fontSize"] > option["title"][0]["textStyle"][
        "fontSize"]
    # each legend names its measures once (the page says which line style is which);
    # the proposal's lines carry its name for the tooltip
    for legend, (_, _, cols, _) in zip(option["legend"], PANELS, strict=True):
        assert len(legend["data"]) == len(cols) == len(set(legend["data"]))
    solid = {x["name"] for x in option["series"] if x["lineStyle"]["type"] == "solid"}
    assert {n for legend in option["legend"] for n in legend["data"]} == solid
    assert all(x["name"].endswith(f"({snap.businesses[1].label})") for x in dashed)


def test_legends_wrap_as_their_labels_need():
    assert legend_lines(["a"], 12) == 1
    assert legend_lines(["word"] * 3, 12, width=3 * (0.55 * 12 * 4 + 25)) == 1
    assert legend_lines(["word"] * 4, 12, width=3 * (0.55 * 12 * 4 + 25)) == 2
    assert legend_lines(["a very long name indeed"], 12, width=10) == 1  # one item, one line


@pytest.mark.parametrize("projector", [False, True])
@pytest.mark.parametrize("compare", [False, True])
@pytest.mark.parametrize("chart_width", [None, 690, 1600])
def test_each_plot_starts_below_its_legend_and_keeps_room_to_draw(projector, compare,
                                                                  chart_width):
    """Titles, legends and plots are laid out in pixels: each plot begins under its
    legend's last line (as many lines as the labels take at the chart's width: 690 px
    is the chart on a 1024-pixel projector; before the page says, a 1280-pixel
    screen's), and in the page's 600-pixel chart each plot keeps at least 150 pixels."""
    s = Session("weak_operations", compare=compare, seed=1)
    option = chart_option(s.step(3), projector=projector, chart_width=chart_width)
    font = option["title"][0]["textStyle"]["fontSize"] - 1
    legend_px = LEGEND_WIDTH if chart_width is None else (100 / 3 - 6) / 100 * chart_width
    for grid, legend, title in zip(option["grid"], option["legend"], option["title"],
                                   strict=True):
        assert legend["selectedMode"] is False  # a key: names repeat across panels
        assert grid["containLabel"] is True  # axis labels stay inside their panel
        lines = legend_lines(legend["data"], font - 1, legend_px)
        assert title["top"] < legend["top"]
        assert grid["top"] >= legend["top"] + lines * (font - 1 + ITEM_GAP)
        if projector:
            assert grid["bottom"] > 0
        else:
            assert grid["height"] >= 150
            assert grid["top"] + grid["height"] <= CHART_HEIGHT
    names = [_label(c) for _, _, cols, _ in PANELS for c in cols]
    assert max(len(n) for n in names) <= 12  # short enough for three panels at 1280 px


def test_a_long_run_is_thinned_and_values_are_rounded_not_distorted():
    s = Session("balanced", seed=1)
    snap = s.step(900)
    source = chart_option(snap)["dataset"][0]["source"]
    assert len(source["day"]) <= 400 and source["day"][0] == 1
    revenue = snap.businesses[0].series["revenue"]
    drawn = np.array(source["revenue"], dtype=float)
    stride = source["day"][1] - source["day"][0]
    smooth = np.convolve(revenue, np.ones(7) / 7)[: len(revenue)]  # weekly mean, after day 7
    assert np.allclose(drawn[4:], smooth[::stride][4:], rtol=1e-3)


def test_the_feed_draws_each_snapshot_on_the_widgets_attached_and_no_others():
    """A redraw goes straight to the page's chain, clock and chart widgets (no Solara
    render); a widget let go is left alone, and an unchanged chart is not sent again."""
    import solara

    from chainsim.workshop.app import Feed
    from chainsim.workshop.charts import LiveChartWidget

    s = Session("balanced")
    feed = Feed(s.snapshot())
    chart, clock, chain = (LiveChartWidget(), solara.widgets.HTML(tag="span"),
                           solara.widgets.HTML(tag="div"))
    feed.attach("chart", chart)
    release_clock = feed.attach("clock", clock)
    feed.attach("chain", chain)
    assert clock.attributes["data-day"] == "0" and chart.data_json  # drawn when attached
    assert feed.show(s.step(3)) is True
    assert clock.attributes["data-day"] == chain.attributes["data-day"] == "3"
    assert chart.drawn_label == "3"
    assert (chart.layout_json, chart.data_json) == chart_parts(s.snapshot())
    release_clock()
    assert feed.show(s.step(2)) is True
    assert clock.attributes["data-day"] == "3" and chain.attributes["data-day"] == "5"
    assert feed.show(s.snapshot()) is False  # the same day again: nothing new to draw
    feed.set_width(603)  # the page's chart width, to 10 pixels: the legends laid out for it
    narrow = chart_parts(s.snapshot(), chart_width=600)[0]
    assert chart.layout_json == narrow != chart_parts(s.snapshot())[0]
    with pytest.raises(ValueError, match="no such part"):
        feed.attach("charts", chart)
