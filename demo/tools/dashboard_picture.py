"""Draws the main panels of a `--print-dashboard` JSON as one HTML page of inline SVG, from
`query_range` answers of a live Prometheus; `dashboard-picture.sh` runs it and screenshots the
page. Standard library only. Exits 1, writing nothing, if any drawn target returns no data.

Drawn: the Overview row, the row of one objective, and the handler row for one handler, laid
out on Grafana's 24-column grid.
"""

import argparse
import datetime
import html
import json
import math
import re
import sys
import urllib.parse
import urllib.request

PAGE_WIDTH = 1280
PAD = 8
# One grid unit of height: Grafana's 30 px cell is a little tall for a still picture.
UNIT = 32
GAP = 8
HEADER = 64
FOOTER = 34
RATE_INTERVAL = "1m"

BG, PANEL, BORDER = "#111217", "#181b1f", "#2c3036"
TEXT, MUTED, GRID = "#d8d9e0", "#9fa1ab", "#262a30"
# Grafana's named threshold colours and the start of its classic series palette.
NAMED = {"green": "#73BF69", "orange": "#FF9830", "red": "#F2495C", "yellow": "#FADE2A"}
PALETTE = ["#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C", "#5794F2", "#B877D9",
           "#705DA0", "#37872D", "#FADE2A", "#447EBC", "#C15C17", "#890F02", "#0A437C",
           "#6D1F62", "#584477", "#B7DBAB", "#F4D598"]


class NoData(Exception):
    pass


def get(prometheus, path, params):
    url = f"{prometheus}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    with urllib.request.urlopen(url, timeout=60) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise SystemExit(f"{path} {params}: {body}")
    return body["data"]


def regex_escape(value):
    """As Grafana escapes a variable's value for a Prometheus regex matcher."""
    return re.sub(r"([\\^$*+?.()|{}\[\]])", r"\\\\\1", value)


def multi(values):
    escaped = [regex_escape(v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def resolve_variables(prometheus, dashboard, handler):
    """`job` and `instance` as Grafana's All: every value their queries find; `handler` one."""
    found = {}
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    for name in ("job", "instance"):
        query = variables[name]["query"]["query"]
        match = re.fullmatch(r"label_values\((.*), (\w+)\)", query)
        if not match:
            raise SystemExit(f"variable {name}: cannot read its query {query!r}")
        selector = substitute(match.group(1), found)
        values = get(prometheus, f"/api/v1/label/{match.group(2)}/values",
                     {"match[]": selector})
        if not values:
            raise NoData(f"variable {name}: {query} finds no value")
        found[name] = values
    options = [o["value"] for o in variables["handler"]["options"]]
    if handler not in options:
        raise SystemExit(f"{handler} is not an option of the handler variable: {options}")
    found["handler"] = [handler]
    return found


def substitute(expr, variables):
    expr = expr.replace("$__rate_interval", RATE_INTERVAL)
    for name, values in variables.items():
        expr = expr.replace(f"${name}", multi(values))
    return expr


def sections(dashboard, objective):
    """The rows to draw, each (row panel, its panels), in dashboard order."""
    rows, current = [], None
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            current = (panel, list(panel.get("panels", [])))
            rows.append(current)
        elif current is not None:
            current[1].append(panel)
    wanted = []
    for row, panels in rows:
        title = row["title"]
        if title == "Overview" or title.startswith(f"Objective {objective}:") or row.get(
                "repeat") == "handler":
            wanted.append((row, panels))
    if len(wanted) != 3:
        raise SystemExit(f"expected an Overview, an objective {objective} and a handler row; "
                         f"found {[r['title'] for r, _ in rows]}")
    return wanted


def legend_name(fmt, labels, expr):
    if not fmt:
        return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}" or expr
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)


def fetch_panel(prometheus, panel, variables, start, end, step, empty):
    series = []
    for target in panel.get("targets", []):
        expr = substitute(target["expr"], variables)
        result = get(prometheus, "/api/v1/query_range",
                     {"query": expr, "start": start, "end": end, "step": step})["result"]
        drawn = 0
        for item in result:
            points = [(float(t), float(v)) for t, v in item["values"]]
            if not any(math.isfinite(v) for _, v in points):
                continue  # 0/0 for a handler with no requests: Grafana draws no line either
            series.append((legend_name(target.get("legendFormat"), item["metric"], expr),
                           points))
            drawn += 1
        if drawn == 0:
            empty.append(f"{panel['title']!r}: {expr}")
    return series


# Units, as Grafana formats them.
def fmt(unit, value, step=None, decimals=None):
    if not math.isfinite(value):
        return "NaN"

    def num(v, places=None):
        if places is None:
            places = 0 if step is None else max(0, -math.floor(math.log10(step) + 1e-9))
            if step is None:
                return f"{v:.3g}"
        return f"{v:.{places}f}"

    if unit == "percentunit":
        pct_step = None if step is None else step * 100
        if decimals is not None:
            return f"{value * 100:.{decimals}f}%"
        if pct_step is None:
            return f"{value * 100:.3g}%"
        places = max(0, -math.floor(math.log10(pct_step) + 1e-9))
        return f"{value * 100:.{places}f}%"
    if unit == "s":
        scale = max(abs(value), step or 0)
        for limit, factor, suffix in ((1e-3, 1e6, "µs"), (1, 1e3, "ms"), (math.inf, 1, "s")):
            if scale < limit or limit == math.inf:
                sub = None if step is None else step * factor
                if sub is None:
                    return f"{value * factor:.3g} {suffix}"
                places = max(0, -math.floor(math.log10(sub) + 1e-9))
                return f"{value * factor:.{places}f} {suffix}"
    text = num(value)
    if unit == "reqps":
        return f"{text} req/s"
    if unit == "short" or not unit:
        return text
    return f"{text} {unit}"  # a custom unit is a suffix


def nice_ticks(lo, hi, count=4):
    if hi <= lo:
        hi = lo + (abs(lo) or 1)
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    ticks, t = [], first
    while t <= last + step / 2:
        ticks.append(round(t, 12))
        t += step
    return ticks, step


def thresholds(panel):
    steps = panel["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])
    return [(s["value"], NAMED.get(s["color"], s["color"])) for s in steps]


def threshold_color(panel, value):
    color = NAMED["green"]
    for limit, c in thresholds(panel):
        if limit is None or value >= limit:
            color = c
    return color


def esc(text):
    return html.escape(str(text))


def timeseries_svg(panel, series, width, height, start, end):
    unit = panel["fieldConfig"]["defaults"].get("unit")
    dashed = panel["fieldConfig"]["defaults"].get("custom", {}).get(
        "thresholdsStyle", {}).get("mode") == "dashed"
    lines = [t for t in thresholds(panel) if t[0] is not None] if dashed else []
    values = [v for _, pts in series for _, v in pts if math.isfinite(v)]
    # The threshold lines are the point of some panels (page and ticket factors): keep them
    # in range.
    lo = min(values + [t for t, _ in lines])
    hi = max(values + [t for t, _ in lines])
    if lo >= 0 and (lo < 0.5 * hi or hi == lo):
        lo = 0
    if lo > 0:
        lo = lo - (hi - lo) * 0.1
    ticks, step = nice_ticks(lo, hi)
    lo, hi = ticks[0], ticks[-1]

    labels = [fmt(unit, t, step) for t in ticks]
    left = 10 + 7 * max(len(label) for label in labels)
    legend_rows = legend_layout([name for name, _ in series], width - 16)
    legend_h = 17 * len(legend_rows) + 4
    top, bottom = 6, height - 20 - legend_h
    plot_w = width - left - 10

    def x(t):
        return left + (t - start) / (end - start) * plot_w

    def y(v):
        return bottom - (v - lo) / (hi - lo) * (bottom - top)

    out = [f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">']
    for tick, label in zip(ticks, labels):
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" '
                   f'y2="{y(tick):.1f}" stroke="{GRID}"/>')
        out.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" '
                   f'class="axis">{esc(label)}</text>')
    minute = 60
    first = math.ceil(start / minute) * minute
    span = end - start
    every = minute * max(1, math.ceil(span / minute / 6))
    for t in range(int(first), int(end) + 1, int(every)):
        label = datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%H:%M")
        out.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{bottom}" '
                   f'stroke="{GRID}"/>')
        out.append(f'<text x="{x(t):.1f}" y="{bottom + 14}" text-anchor="middle" '
                   f'class="axis">{label}</text>')
    base = y(max(lo, min(0, hi)))
    for index, (name, points) in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        for run in finite_runs(points):
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run)
            area = f"{x(run[0][0]):.1f},{base:.1f} {path} {x(run[-1][0]):.1f},{base:.1f}"
            out.append(f'<polygon points="{area}" fill="{color}" fill-opacity="0.1"/>')
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                       f'stroke-width="1.3"/>')
    labelled = []
    for value, color in lines:
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(value):.1f}" '
                   f'y2="{y(value):.1f}" stroke="{color}" stroke-dasharray="6 4" '
                   f'stroke-width="1.2"/>')
        if any(abs(y(value) - other) < 11 for other in labelled):
            continue  # lines closer than a label's height: the first one's label only
        labelled.append(y(value))
        out.append(f'<text x="{left + plot_w - 2}" y="{y(value) - 3:.1f}" text-anchor="end" '
                   f'class="threshold" fill="{color}">{esc(fmt(unit, value))}</text>')
    ly = bottom + 24
    for row in legend_rows:
        lx = 8
        for index, name, w in row:
            color = PALETTE[index % len(PALETTE)]
            out.append(f'<rect x="{lx}" y="{ly + 4}" width="12" height="3" fill="{color}"/>')
            out.append(f'<text x="{lx + 17}" y="{ly + 10}" class="legend">{esc(name)}</text>')
            lx += w
        ly += 17
    out.append("</svg>")
    return "\n".join(out)


def legend_layout(names, width):
    rows, row, used = [], [], 0
    for index, name in enumerate(names):
        w = 17 + 6.3 * len(name) + 14
        if row and used + w > width:
            rows.append(row)
            row, used = [], 0
        row.append((index, name, w))
        used += w
    if row:
        rows.append(row)
    return rows


def finite_runs(points):
    runs, run = [], []
    for t, v in points:
        if math.isfinite(v):
            run.append((t, v))
        elif run:
            runs.append(run)
            run = []
    if run:
        runs.append(run)
    return runs


def last_value(series):
    for _, points in series:
        for _, v in reversed(points):
            if math.isfinite(v):
                return v
    return math.nan


def stat_svg(panel, series, width, height):
    defaults = panel["fieldConfig"]["defaults"]
    value = last_value(series)
    color = threshold_color(panel, value)
    text = fmt(defaults.get("unit"), value, decimals=defaults.get("decimals"))
    points = [(t, v) for t, v in series[0][1] if math.isfinite(v)]
    out = [f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
           f'<rect width="{width}" height="{height}" fill="{color}" fill-opacity="0.08"/>']
    if len(points) > 1:
        t0, t1 = points[0][0], points[-1][0]
        v0 = min(v for _, v in points)
        v1 = max(v for _, v in points)
        span = (v1 - v0) or 1

        def px(t):
            return (t - t0) / ((t1 - t0) or 1) * width

        def py(v):
            return height - 4 - (v - v0) / span * height * 0.35

        path = " ".join(f"{px(t):.1f},{py(v):.1f}" for t, v in points)
        out.append(f'<polygon points="0,{height} {path} {width},{height}" fill="{color}" '
                   f'fill-opacity="0.18"/>')
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                   f'stroke-width="1.2"/>')
    size = min(34, width / max(4, len(text)) * 1.7)
    out.append(f'<text x="{width / 2}" y="{height * 0.45}" text-anchor="middle" '
               f'font-size="{size:.0f}" font-weight="600" fill="{color}">{esc(text)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def gauge_svg(panel, series, width, height):
    defaults = panel["fieldConfig"]["defaults"]
    lo, hi = defaults.get("min", 0), defaults.get("max", 1)
    value = last_value(series)
    color = threshold_color(panel, value)
    cx, cy = width / 2, height * 0.62
    r = min(width * 0.42, height * 0.55)

    def point(v, radius):
        frac = min(1, max(0, (v - lo) / (hi - lo)))
        angle = math.pi * (1.25 - 1.5 * frac)
        return cx + radius * math.cos(angle), cy - radius * math.sin(angle)

    def arc(v0, v1, radius, stroke, w):
        (x0, y0), (x1, y1) = point(v0, radius), point(v1, radius)
        large = 1 if (v1 - v0) / (hi - lo) * 270 > 180 else 0
        return (f'<path d="M{x0:.1f},{y0:.1f} A{radius:.1f},{radius:.1f} 0 {large} 1 '
                f'{x1:.1f},{y1:.1f}" fill="none" stroke="{stroke}" stroke-width="{w}"/>')

    out = [f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">']
    steps = thresholds(panel)
    for i, (start, c) in enumerate(steps):
        start = lo if start is None else start
        stop = steps[i + 1][0] if i + 1 < len(steps) else hi
        out.append(arc(start, stop, r, c, 4))
    out.append(arc(lo, hi, r - 10, "#2c3036", 12))
    if math.isfinite(value) and value > lo:
        out.append(arc(lo, min(value, hi), r - 10, color, 12))
    text = fmt(defaults.get("unit"), value, decimals=defaults.get("decimals", 1))
    out.append(f'<text x="{cx}" y="{cy + 8}" text-anchor="middle" font-size="24" '
               f'font-weight="600" fill="{color}">{esc(text)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def markdown(text):
    out, items = [], []
    for line in text.split("\n"):
        line = esc(line)
        line = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", line)
        line = re.sub(r"`(.+?)`", r"<code>\1</code>", line)
        if line.startswith("- "):
            items.append(f"<li>{line[2:]}</li>")
            continue
        if items:
            out.append("<ul>" + "".join(items) + "</ul>")
            items = []
        if line:
            out.append(f"<p>{line}</p>")
    if items:
        out.append("<ul>" + "".join(items) + "</ul>")
    return "".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prometheus", required=True)
    parser.add_argument("--dashboard", required=True)
    parser.add_argument("--start", type=int, required=True)
    parser.add_argument("--end", type=int, required=True)
    parser.add_argument("--handler", required=True)
    parser.add_argument("--objective", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--size-file", required=True)
    args = parser.parse_args()

    with open(args.dashboard) as file:
        dashboard = json.load(file)
    try:
        variables = resolve_variables(args.prometheus, dashboard, args.handler)
    except NoData as error:
        sys.exit(f"dashboard-picture: {error}")
    version = get(args.prometheus, "/api/v1/status/buildinfo", {})["version"]
    col = (PAGE_WIDTH - 2 * PAD) / 24
    body, empty, offset = [], [], 0
    for row, panels in sections(dashboard, args.objective):
        row_y = row["gridPos"]["y"]
        title = row["title"].replace("$handler", args.handler)
        body.append(f'<div class="row" style="top:{HEADER + offset * UNIT}px">'
                    f'⌄ {esc(title)}</div>')
        height_units = 1
        for panel in panels:
            grid = panel["gridPos"]
            y_units = offset + grid["y"] - row_y
            left = PAD + grid["x"] * col
            top = HEADER + y_units * UNIT
            width = grid["w"] * col - GAP
            height = grid["h"] * UNIT - GAP
            height_units = max(height_units, grid["y"] - row_y + grid["h"])
            inner_w, inner_h = int(width - 2), int(height - 32)
            if panel["type"] == "text":
                content = f'<div class="text">{markdown(panel["options"]["content"])}</div>'
            else:
                series = fetch_panel(args.prometheus, panel, variables, args.start, args.end,
                                     15 if panel["type"] in ("stat", "gauge") else 5, empty)
                if not series:
                    continue
                if panel["type"] == "timeseries":
                    content = timeseries_svg(panel, series, inner_w, inner_h, args.start,
                                             args.end)
                elif panel["type"] == "stat":
                    content = stat_svg(panel, series, inner_w, inner_h)
                elif panel["type"] == "gauge":
                    content = gauge_svg(panel, series, inner_w, inner_h)
                else:
                    sys.exit(f"dashboard-picture: cannot draw a {panel['type']} panel")
            body.append(f'<div class="panel" style="left:{left:.0f}px;top:{top}px;'
                        f'width:{width:.0f}px;height:{height}px">'
                        f'<div class="title">{esc(panel["title"])}</div>{content}</div>')
        offset += height_units
    if empty:
        sys.exit("dashboard-picture: no data for " + str(len(empty)) + " queries:\n  "
                 + "\n  ".join(empty))

    page_height = HEADER + offset * UNIT + FOOTER
    start = datetime.datetime.fromtimestamp(args.start, datetime.UTC)
    end = datetime.datetime.fromtimestamp(args.end, datetime.UTC)
    shown = ", ".join(f"{name} = {' | '.join(values)}" for name, values in variables.items())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><style>
body {{ margin:0; background:{BG}; color:{TEXT}; font:13px "DejaVu Sans", sans-serif;
  width:{PAGE_WIDTH}px; height:{page_height}px; position:relative; overflow:hidden; }}
.top {{ position:absolute; left:{PAD}px; top:8px; right:{PAD}px; }}
.top h1 {{ font-size:17px; font-weight:600; margin:0 0 6px; }}
.vars {{ color:{MUTED}; font-size:12px; }}
.range {{ position:absolute; right:0; top:2px; color:{MUTED}; font-size:12px; }}
.row {{ position:absolute; left:{PAD}px; font-size:14px; font-weight:600; line-height:{UNIT}px; }}
.panel {{ position:absolute; background:{PANEL}; border:1px solid {BORDER}; border-radius:2px;
  overflow:hidden; }}
.title {{ height:30px; line-height:30px; padding:0 8px; font-size:13px; font-weight:500; }}
.text {{ padding:0 10px; font-size:11.5px; line-height:1.45; color:{TEXT}; }}
.text p {{ margin:0 0 6px; }} .text ul {{ margin:0; padding-left:16px; }}
code {{ font:11px "DejaVu Sans Mono", monospace; background:#22252b; padding:0 2px; }}
svg text {{ font-family:"DejaVu Sans", sans-serif; }}
.axis {{ fill:{MUTED}; font-size:11px; }} .legend {{ fill:{TEXT}; font-size:11px; }}
.threshold {{ font-size:10px; }}
.foot {{ position:absolute; left:{PAD}px; bottom:10px; color:{MUTED}; font-size:11.5px; }}
</style></head><body>
<div class="top"><h1>{esc(dashboard["title"])}</h1>
<div class="vars">{esc(shown)} · $__rate_interval = {RATE_INTERVAL}</div>
<div class="range">{start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC</div></div>
{"".join(body)}
<div class="foot">Drawn by demo/tools/dashboard-picture.sh from query_range answers of
Prometheus {esc(version)} scraping two demo instances under scripted traffic; the rows of the other
objective and of the other handlers are left out.</div>
</body></html>"""
    with open(args.out, "w") as file:
        file.write(page)
    with open(args.size_file, "w") as file:
        file.write(f"{PAGE_WIDTH} {page_height}\n")


if __name__ == "__main__":
    main()
