"""``<run>/index.html``: a summary table and one row per region linking every output, with thumbnails; headings in
English and Chinese, as the result titles are (a batch may hold runs in either language)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from urllib.parse import quote

from analysis.batch import manifest as mf
from analysis.narrative import count

_STYLE = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin-bottom:1.5em}th,td{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}
th{background:#f3f3f3}.ok{color:#1a7f37}.failed{color:#c62828;font-weight:bold}
img.thumb{height:90px;margin:2px;border:1px solid #ddd}small{color:#666}
"""


def _link(path: str, text: str) -> str:
    return f'<a href="{quote(path)}">{html.escape(text)}</a>'


def write_index(run_dir: Path, *, max_thumbnails: int = 4) -> Path:
    """Write ``index.html`` from the run records (atomically) and return its path. Thumbnails are the figures'
    PNGs shown small and loaded lazily (only those scrolled into view: a county batch links ≈ 10,000). The
    notebooks not run for some regions because they do not apply to their level are named (from
    ``manifest.json``)."""
    # imported here, not at the top: the runner imports this module before its kernels start
    from analysis.data.regions import LEVEL_NAMES_ZH as levels_zh

    run_dir = Path(run_dir)
    records = mf.all_records(run_dir)
    n_ok = sum(r["status"] == "ok" for r in records)
    n_failed = sum(r["status"] == "failed" for r in records)
    total_s = sum(r.get("duration_s") or 0 for r in records)
    rows = []
    for r in records:
        status = r["status"]
        outputs = [o["path"] for o in r.get("outputs", [])]
        links = [_link(p, Path(p).suffix.lstrip(".")) for p in outputs if p.endswith((".html", ".ipynb"))]
        tables = [_link(p, Path(p).name) for p in outputs if p.endswith((".csv", ".xlsx", ".json"))]
        figures = [p for p in outputs if p.endswith(".png")]
        others = [_link(p, Path(p).name) for p in outputs if p.endswith((".pdf", ".svg"))]
        thumbs = "".join(
            f'<a href="{quote(p)}"><img class="thumb" src="{quote(p)}" alt="{html.escape(Path(p).stem)}" '
            'loading="lazy" decoding="async"></a>'
            for p in figures[:max_thumbnails]
        )
        extra = len(figures) - max_thumbnails
        more = f"<br><small>+{extra} more figures / 另有 {extra} 幅图</small>" if extra > 0 else ""
        error = f"<br><small>{html.escape(r.get('error') or '')}</small>" if status != "ok" else ""
        rows.append(
            "<tr>"
            f"<td>{html.escape(r['region_code'])}</td><td>{html.escape(r.get('region_name') or '')}</td>"
            f"<td>{html.escape(r['notebook'])}</td>"
            f'<td class="{status}">{status}{error}</td><td>{r.get("duration_s", 0):.1f}</td>'
            f"<td>{' · '.join(links)}</td><td>{thumbs}{more}</td>"
            f"<td>{'<br>'.join(tables + others)}</td>"
            "</tr>"
        )
    try:
        not_applicable = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8")).get("not_applicable") or {}
    except (FileNotFoundError, json.JSONDecodeError):
        not_applicable = {}
    skipped = "".join(
        f"<p>Not run where it does not apply / 不适用而未运行: <b>{html.escape(name)}</b> runs for "
        f"{html.escape(', '.join(v['levels']))} only — {count(len(v['regions']), 'region')} "
        f"<small>({html.escape(', '.join(v['regions'][:10]))}{', …' if len(v['regions']) > 10 else ''})</small>"
        f" / 仅适用于{html.escape('、'.join(levels_zh.get(lv, lv) for lv in v['levels']))}，{len(v['regions'])} 个地区未运行</p>\n"
        for name, v in not_applicable.items()
    )
    page = f"""<!DOCTYPE html>
<html lang="zh"><head><meta charset="utf-8"><title>{html.escape(run_dir.name)} — batch results / 批量运行结果</title>
<style>{_STYLE}</style></head><body>
<h1>Batch run / 批量运行 <code>{html.escape(run_dir.name)}</code></h1>
<table class="summary"><tr><th>runs<br>运行</th><th>ok<br>成功</th><th>failed<br>失败</th>
<th>total run time (s)<br>总运行时间（秒）</th><th>manifest<br>运行清单</th></tr>
<tr><td>{len(records)}</td><td class="ok">{n_ok}</td><td class="failed">{n_failed}</td><td>{total_s:.1f}</td>
<td>{_link("manifest.json", "manifest.json")}</td></tr></table>
{skipped}<table class="runs"><tr><th>code<br>代码</th><th>region<br>地区</th><th>notebook<br>笔记本</th>
<th>status<br>状态</th><th>s<br>秒</th><th>report<br>报告</th><th>figures<br>图</th><th>tables &amp; files<br>表格与文件</th></tr>
{chr(10).join(rows)}
</table>
<p><small>Age-0 sex ratios from the census county tables are a proxy for the sex ratio at birth.
普查分县表中的 0 岁人口性别比仅为出生性别比的代理指标。</small></p>
</body></html>
"""
    return mf.write_atomic(run_dir / "index.html", page)
