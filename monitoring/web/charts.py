"""Server-drawn SVG charts: pictures without a JavaScript library, that work without JavaScript."""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

W, H, PAD_L, PAD_B, PAD_T = 640, 180, 44, 22, 10


def _frame(inner, y_max, unit, labels, title):
    grid = format_html_join(
        "", '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/><text x="{}" y="{}" class="axis">{}</text>',
        ((PAD_L, W, y, y, PAD_L - 4, y + 4, _fmt(v, unit)) for v, y in _ticks(y_max)),
    )
    xlabels = format_html_join("", '<text x="{}" y="{}" class="axis x">{}</text>', ((x, H - 4, t) for x, t in labels))
    return format_html(
        '<svg viewBox="0 0 {} {}" class="chart" role="img" aria-label="{}"><title>{}</title>{}{}{}</svg>',
        W, H, title, title, grid, mark_safe(inner), xlabels,
    )


def _ticks(y_max, n=3):
    return [(y_max * i / n, _y(y_max * i / n, y_max)) for i in range(n + 1)]


def _y(value, y_max):
    return round(PAD_T + (H - PAD_B - PAD_T) * (1 - (value / y_max if y_max else 0)), 1)


def _fmt(value, unit):
    if unit == "ms":
        return f"{value / 1000:.1f}s" if value >= 1000 else f"{value:.0f}ms"
    if unit == "%":
        return f"{value:.0f}%"
    return f"{value:.0f}"


def _x_labels(series, label_format, every):
    width = (W - PAD_L) / max(len(series), 1)
    return [(round(PAD_L + width * i + width / 2), b["start"].strftime(label_format))
            for i, b in enumerate(series) if i % every == 0]


def stacked_bars(series, label_format, every, title="Executions by status"):
    """Executions per bucket: success, failed and other (running, waiting…) stacked."""
    y_max = max([b["success"] + b["failed"] + b["other"] for b in series] + [1])
    width = (W - PAD_L) / max(len(series), 1)
    parts = []
    for i, b in enumerate(series):
        x = PAD_L + width * i + 1
        base = 0
        for key in ("success", "failed", "other"):
            if b[key]:
                top, bottom = _y(base + b[key], y_max), _y(base, y_max)
                parts.append(format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" class="bar {}"><title>{}: {} {}</title></rect>',
                    round(x, 1), top, round(max(width - 2, 1), 1), round(bottom - top, 1), key,
                    b["start"].strftime(label_format), b[key], key))
                base += b[key]
    return _frame("".join(parts), y_max, "", _x_labels(series, label_format, every), title)


def line(series, key, unit, label_format, every, title):
    """One value per bucket as a line with dots; gaps where a bucket has no value."""
    values = [b[key] for b in series]
    y_max = max([v for v in values if v is not None] + [1 if unit != "%" else 10])
    if unit == "%":
        y_max = min(100, max(y_max, 10))
    width = (W - PAD_L) / max(len(series), 1)
    points = [(round(PAD_L + width * i + width / 2, 1), _y(v, y_max), v, series[i]["start"])
              for i, v in enumerate(values) if v is not None]
    path = " ".join(f"{'M' if i == 0 else 'L'}{x},{y}" for i, (x, y, _, _) in enumerate(points))
    dots = "".join(format_html('<circle cx="{}" cy="{}" r="3" class="dot"><title>{}: {}</title></circle>',
                               x, y, start.strftime(label_format), _fmt(v, unit)) for x, y, v, start in points)
    inner = (format_html('<path d="{}" class="line"/>', path) if points else "") + dots
    return _frame(inner, y_max, unit, _x_labels(series, label_format, every), title)


# period -> (strftime format for axis labels, label every n buckets)
LABELS = {"1h": ("%H:%M", 2), "24h": ("%H:%M", 4), "7d": ("%a %Hh", 4), "30d": ("%d %b", 5)}


def overview_charts(stats):
    fmt, every = LABELS[stats["period"]]
    series = stats["series"]
    return {
        "executions": stacked_bars(series, fmt, every),
        "error_rate": line(series, "error_rate", "%", fmt, every, "Error rate"),
        "p95": line(series, "p95", "ms", fmt, every, "p95 duration"),
    }
