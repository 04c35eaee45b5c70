"""A self-contained HTML page for the walkthrough: inline SVG, no scripts, no network.

Two pictures: a timeline of the persona's purchases (one lane per category) and, per model, a
stacked bar of how its top-10 splits between the persona's categories (for ``blog_author``: cat
supplies, baking, fitness) and the rest. Colours follow the persona's categories in order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

from seqrec.experiment import epoch_cell, pct_cell, sample_notes

PALETTE = ("#e07b39", "#c9a227", "#2f8f6a", "#3b6fb6", "#b5487a", "#7a5cc7", "#4aa3a8", "#8c6d46")
"""Colours of the persona's categories in order (her first three: cat supplies, baking, fitness)."""
OTHER_COLOR = "#9aa5b1"


def category_colors(categories: list[str]) -> dict[str, str]:
    """A colour per category (the palette in order, repeated if need be), grey for ``"other"``."""
    colors = {category: PALETTE[i % len(PALETTE)] for i, category in enumerate(c for c in categories if c != "other")}
    return {**colors, "other": OTHER_COLOR}


def _color(colors: dict[str, str], category: str) -> str:
    return colors.get(category, OTHER_COLOR)


def timeline_svg(history: list[dict[str, Any]], colors: dict[str, str], width: int = 900) -> str:
    """Purchases on a time axis, one lane per category, newest on the right."""
    if not history:
        return "<p>(empty history)</p>"
    lanes = list(dict.fromkeys(row["category"] for row in history))
    lane_height, left, right = 34, 130, 20
    height = lane_height * len(lanes) + 50
    first, last = history[0]["timestamp"], history[-1]["timestamp"]
    span = max(1, last - first)

    def x(t: int) -> float:
        return left + (width - left - right) * (t - first) / span

    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="purchase timeline">']
    for lane, category in enumerate(lanes):
        y = 20 + lane * lane_height
        parts.append(f'<text x="4" y="{y + 4}" font-size="12">{escape(category)}</text>')
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y}" y2="{y}" stroke="#ddd"/>')
    for row in history:
        y = 20 + lanes.index(row["category"]) * lane_height
        parts.append(
            f'<circle cx="{x(row["timestamp"]):.1f}" cy="{y}" r="5" fill="{_color(colors, row["category"])}">'
            f'<title>{escape(_date(row["timestamp"]))}: {escape(row["title"])}</title></circle>'
        )
    axis_y = height - 18
    for t, anchor in ((first, "start"), (first + span // 2, "middle"), (last, "end")):
        parts.append(f'<text x="{x(t):.1f}" y="{axis_y}" font-size="11" text-anchor="{anchor}">{_date(t)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def shares_svg(models: dict[str, Any], colors: dict[str, str], width: int = 900) -> str:
    """One stacked horizontal bar per model: its top-10 split by category; a legend below it,
    as many rows as the categories need."""
    row_height, left, legend_step = 24, 150, 130
    per_legend_row = max(1, (width - left) // legend_step)
    legend_rows = -(-len(colors) // per_legend_row)
    height = row_height * len(models) + 10 + 20 * legend_rows
    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="category shares">']
    bar_width = width - left - 20
    for row, (name, report) in enumerate(models.items()):
        y = 10 + row * row_height
        parts.append(f'<text x="4" y="{y + 14}" font-size="12">{escape(name)}</text>')
        offset = float(left)
        for category, share in report["category_share"].items():
            if share <= 0:
                continue
            w = bar_width * share
            parts.append(
                f'<rect x="{offset:.1f}" y="{y}" width="{w:.1f}" height="18" fill="{_color(colors, category)}">'
                f"<title>{escape(category)}: {share:.0%}</title></rect>"
            )
            offset += w
    for i, (category, color) in enumerate(colors.items()):
        x = left + (i % per_legend_row) * legend_step
        legend_y = 10 + row_height * len(models) + 20 * (i // per_legend_row) + 14
        parts.append(f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text x="{x + 16}" y="{legend_y}" font-size="12">{escape(category)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")


def _leaderboard_table(rows: list[dict[str, Any]], references: list[str]) -> str:
    head = "<tr><th>model</th><th>HR@10</th><th>NDCG@10</th><th>NDCG@10 95% CI</th>"
    head += "".join(f"<th>NDCG@10 % of {escape(reference)}</th>" for reference in references)
    head += "<th>fit s</th><th>s/epoch (best / run)</th></tr>"
    body = []
    for row in rows:
        low, high = row["NDCG@10_ci"]
        cells = f"<td>{escape(row['model'])}</td><td>{row['HR@10']:.4f}</td><td>{row['NDCG@10']:.4f}</td><td>[{low:.4f}, {high:.4f}]</td>"
        cells += "".join(f"<td>{pct_cell(row, reference)}</td>" for reference in references)
        cells += f"<td>{row['fit_seconds']:.2f}</td><td>{epoch_cell(row)}</td>"
        body.append(f"<tr>{cells}</tr>")
    notes = "".join(f"<li>{escape(note)}</li>" for note in sample_notes(rows))
    return f"<table>{head}{''.join(body)}</table>" + (f"<ul>{notes}</ul>" if notes else "")


def _model_section(name: str, report: dict[str, Any], colors: dict[str, str]) -> str:
    items = "".join(
        f'<li><span class="dot" style="background:{_color(colors, row["category"])}"></span>{escape(row["title"])} '
        f'<small>({escape(row["category"])})</small></li>'
        for row in report["top10"]
    )
    explanation = report["explanation"]
    evidence = "".join(f"<li><code>{escape(_evidence_text(row))}</code></li>" for row in explanation["evidence"][:5])
    truth = report.get("hit_probability")
    chance = "" if truth is None else f"<p>Chance that her next purchase is in this list (by the generator): {truth:.2f}</p>"
    return (
        f"<section><h3>{escape(name)}</h3><ol>{items}</ol>{chance}"
        f"<p><b>Why the first pick:</b> {escape(explanation.get('summary_titled', explanation['summary']))}</p><ul>{evidence}</ul></section>"
    )


def _evidence_text(row: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}" for key, value in row.items())


def render_html(report: dict[str, Any]) -> str:
    persona = report["persona"]
    models = report["models"]
    colors = category_colors(persona["categories"])
    sections = "".join(_model_section(name, rep, colors) for name, rep in models.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>seqrec walkthrough: {escape(persona['name'])}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 960px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; font-size: 13px; }}
section {{ display: inline-block; vertical-align: top; width: 440px; margin: 0 8px 16px 0; }}
.dot {{ display: inline-block; width: 10px; height: 10px; border-radius: 5px; margin-right: 6px; }}
code {{ font-size: 11px; }}
</style></head><body>
<h1>One shopper, every model</h1>
<p>Dataset <b>{escape(report['dataset'])}</b>; {escape(report['split'])}; history items
{'excluded from' if report['exclude_history'] else 'allowed in'} recommendations.</p>
<h2>{escape(persona['name'])}'s purchases</h2>
{timeline_svg(persona['history'], colors)}
<h2>What each model's top-10 is made of</h2>
{shares_svg(models, colors)}
<h2>Leaderboard (every shopper's held-out last purchase, full ranking)</h2>
{_leaderboard_table(report['leaderboard'], report.get('references', []))}
<h2>Each model's top-10 and its reason</h2>
{sections}
<p><small>{escape(report['meta']['machine'])}; {escape(report['meta']['date'])}; threads {report['meta']['threads']};
<code>{escape(report['meta']['command'])}</code></small></p>
</body></html>
"""
