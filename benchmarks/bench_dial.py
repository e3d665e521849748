"""How fast the pooling dial is: computing it once per fit (server side), and redrawing it per slider move
(in the browser).

Run from the repository root: ``.venv/bin/python benchmarks/bench_dial.py [--samples NAME ...] [--moves 40]``.

For each sample, its default model is fitted (partial pooling, the app's Quick preset), then:

- **compute**: wall time of ``pooling_dial(result)`` (the tables of every tau position, the marginal and joint
  profiles, the average over the posterior draws), the best of three calls;
- **redraw**: the dial chart (``charts.pooling_dial_chart``, one Vega-Lite spec with a slider parameter) is
  embedded offline in headless Chromium (vl-convert's bundle of Vega, Vega-Lite and vega-embed, the same
  libraries Streamlit uses), and the slider is moved ``--moves`` times across the dial: each move sets the range
  input and fires its ``input`` event, as a hand does, and the time runs until Vega's dataflow run has finished
  and two animation frames have passed (so the new frame is painted). Median and 95th percentile per move, for
  the SVG and the canvas renderer.

No server round trip is involved in a move: the chart filters its own precomputed table in the browser.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

DEFAULT_SAMPLES = ("Minnesota radon", "Eight schools", "Baseball batting averages")

MEASURE_MOVES = """
async ([value]) => {
  const input = document.querySelector('.vega-bindings input[type=range]');
  const start = performance.now();
  input.value = String(value);
  input.dispatchEvent(new Event('input', {bubbles: true}));
  await window.dialView.runAsync();
  await new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  return performance.now() - start;
}
"""


def page_html(spec: dict, renderer: str, bundle: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><script>" + bundle + "</script></head><body>"
        "<div id='vis'></div><script>"
        f"vegaEmbed('#vis', {json.dumps(spec)}, {{renderer: '{renderer}', actions: false}})"
        ".then(result => {{ window.dialView = result.view; }});"
        "</script></body></html>"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", nargs="*", default=list(DEFAULT_SAMPLES))
    parser.add_argument("--moves", type=int, default=40)
    args = parser.parse_args()

    import vl_convert
    from playwright.sync_api import sync_playwright

    from hiermodels import charts
    from hiermodels.data.datasets import sample_by_name
    from hiermodels.data.preparing import prepare
    from hiermodels.inference.fitting import fit_poolings
    from hiermodels.model.spec import QUICK_SAMPLER
    from hiermodels.results.pooling_dial import pooling_dial

    bundle = vl_convert.javascript_bundle()
    rows = []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as folder:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        for name in args.samples:
            sample = sample_by_name(name)
            spec = replace(sample.spec, sampler=QUICK_SAMPLER)
            result = fit_poolings(prepare(sample.load(), spec), spec, ("partial",))["partial"]
            times = []
            for _ in range(3):
                start = time.perf_counter()
                dial = pooling_dial(result)
                times.append(time.perf_counter() - start)
            chart = charts.pooling_dial_chart(dial.curve, dial.tau, dial.summaries,
                                              start_position=dial.start_position, value_title=dial.value_title,
                                              tau_title=dial.tau_title)
            vega_lite = charts._themed_spec(chart)
            last = int(dial.tau["position"].max())
            row = {"sample": name, "groups": len(dial.groups), "positions": last + 1,
                   "compute_s": min(times)}
            for renderer in ("svg", "canvas"):
                path = Path(folder) / f"{renderer}.html"
                path.write_text(page_html(vega_lite, renderer, bundle), encoding="utf-8")
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(path.as_uri())
                page.wait_for_function("window.dialView !== undefined", timeout=60_000)
                positions = [round(last * k / (args.moves - 1)) for k in range(args.moves)]
                moves = [page.evaluate(MEASURE_MOVES, [p]) for p in positions]
                row[f"{renderer}_median_ms"] = statistics.median(moves)
                row[f"{renderer}_p95_ms"] = sorted(moves)[int(0.95 * (len(moves) - 1))]
                page.close()
            rows.append(row)
            print(row, flush=True)
        browser.close()
    print()
    print(f"{'sample':28s} {'groups':>6s} {'pos.':>5s} {'compute s':>10s} {'svg med/p95 ms':>16s} "
          f"{'canvas med/p95 ms':>18s}")
    for r in rows:
        svg = f"{r['svg_median_ms']:7.1f}/{r['svg_p95_ms']:<8.1f}"
        canvas = f"{r['canvas_median_ms']:8.1f}/{r['canvas_p95_ms']:<8.1f}"
        print(f"{r['sample']:28s} {r['groups']:6d} {r['positions']:5d} {r['compute_s']:10.2f} {svg} {canvas}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
