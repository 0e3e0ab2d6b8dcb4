"""Theme, CJK fonts, labels, save_figure and plot helpers (analysis.plots).

References: PNG size/dpi are checked against figure inches × dpi; the converted TrueType font is
checked glyph by glyph against the original CFF font (advance widths and bounding boxes); PDF fonts
are checked in the file itself and, where poppler is installed, with ``pdffonts``/``pdftotext``.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import matplotlib as mpl
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from fontTools.pens.boundsPen import BoundsPen
from fontTools.ttLib import TTFont
from matplotlib import font_manager
from PIL import Image

from analysis import plots

ZH_TITLE = "出生性别比（女=100）：歙县、黟县"


@pytest.fixture(autouse=True)
def _restore_theme():
    """Each test sees (and leaves) matplotlib's rcParams and the label language as they were."""
    lang = plots._state["lang"]
    with mpl.rc_context():
        yield
    plots._state["lang"] = lang


def _chinese_figure(lang: str = "zh"):
    fig, ax = plt.subplots(figsize=plots.figsize("single"))
    x = np.arange(2000, 2021)
    ax.plot(x, 110 + np.sin(x) - 2, label=plots.label("observed", lang))
    ax.set_title(ZH_TITLE)
    ax.set_xlabel(plots.label("year", lang))
    ax.set_ylabel(plots.label("srb", lang))
    ax.set_yticks([108, 110, 112], ["一〇八", "−110", "一一二"])
    ax.axhline(0.0 - 1.0, color="k")
    ax.legend(title="图例 Legend −1")
    return fig


def _glyph_warnings(fig, formats=("png", "pdf", "svg")) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for fmt in formats:
            fig.savefig(io.BytesIO(), format=fmt)
    return [str(w.message) for w in caught if "Glyph" in str(w.message)]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_chinese_labels_render_without_missing_glyph_warnings(lang):
    plots.set_theme(lang)
    assert _glyph_warnings(_chinese_figure(lang)) == []


def test_glyph_check_detects_a_missing_cjk_font():
    """Control for the test above: with a Latin-only font the same figure does warn."""
    plots.set_theme("zh")
    fig = _chinese_figure()
    with mpl.rc_context({"font.family": ["DejaVu Sans"]}):
        for text in fig.findobj(mpl.text.Text):
            text.set_fontfamily(["DejaVu Sans"])
        assert any("missing from font" in m for m in _glyph_warnings(fig))


def test_every_label_renders_in_both_languages():
    plots.set_theme("zh")
    fig, ax = plt.subplots()
    for i, key in enumerate(plots.label_keys()):
        ax.text(0, i, plots.label(key, "zh") + " / " + plots.label(key, "en"))
    assert _glyph_warnings(fig, formats=("png",)) == []


def test_registered_cjk_font_has_truetype_outlines_and_covers_chinese():
    family = plots.register_cjk_font()
    path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    with TTFont(path, lazy=True) as font:
        assert "glyf" in font and "CFF " not in font
        cmap = font.getBestCmap()
    assert all(ord(c) in cmap for c in "出生性别比歙黟县（）：、")


def test_a_system_cjk_font_is_preferred_to_the_packaged_one(tmp_path, monkeypatch):
    """A (fake) system 'Noto Sans CJK SC' — here a copy of the cached TrueType version — wins."""
    system_font = tmp_path / "NotoSansCJKsc-System.ttf"
    shutil.copyfile(plots._truetype_version(plots._packaged_font_path(), 0), system_font)
    mgr = font_manager.fontManager
    entry = font_manager.FontEntry(fname=str(system_font), name="Noto Sans CJK SC", weight=400)
    monkeypatch.setattr(mgr, "ttflist", [*mgr.ttflist, entry])
    monkeypatch.setitem(plots._state, "cjk_family", None)
    try:
        assert plots._find_system_cjk_font(
            exclude=(plots._packaged_font_path().parent, plots._font_cache_dir())
        ) == (system_font, 0)
        assert plots.register_cjk_font() == "Noto Sans CJK SC"
        found = font_manager.findfont(font_manager.FontProperties(family="Noto Sans CJK SC"))
        assert Path(found) == system_font
    finally:
        monkeypatch.undo()
        mgr._findfont_cached.cache_clear()


def test_truetype_conversion_keeps_metrics_of_the_original_font():
    """Reference: the packaged CFF font itself — same advance widths, bounding boxes within 2 units."""
    original_path = plots._packaged_font_path()
    converted_path = plots._truetype_version(original_path, 0)
    with TTFont(original_path, lazy=True) as orig, TTFont(converted_path, lazy=True) as conv:
        # glyph names differ (the TrueType copy has no 'post' names); glyph ids must not
        ids = [{cp: f.getGlyphID(n) for cp, n in f.getBestCmap().items()} for f in (orig, conv)]
        assert ids[0] == ids[1]
        og, cg = orig.getGlyphSet(), conv.getGlyphSet()
        for char in "A出性别黟%1−":
            gid = ids[0][ord(char)]
            a, b = og[orig.getGlyphName(gid)], cg[conv.getGlyphName(gid)]
            assert a.width == b.width
            pens = [BoundsPen(og), BoundsPen(cg)]
            a.draw(pens[0])
            b.draw(pens[1])
            assert np.allclose(pens[0].bounds, pens[1].bounds, atol=2), char


def _font_files() -> list[Path]:
    """Files of the font chain: Latin core, Latin, CJK core, CJK common, CJK."""
    return [
        Path(font_manager.findfont(font_manager.FontProperties(family=f), fallback_to_default=False))
        for f in plots.font_family()
    ]


def _core_and_full_fonts() -> tuple[Path, Path]:
    files = _font_files()
    return files[2], files[4]


def _cjk(text: str) -> set[str]:
    """Chinese characters of ``text``, without CJK punctuation and full-width forms."""
    return {c for c in text if ord(c) >= 0x2E80 and not (0x3000 <= ord(c) <= 0x303F or 0xFF00 <= ord(c) <= 0xFFEF)}


def _same_glyphs(core_path: Path, full_path: Path, chars: str) -> None:
    """Reference check of a core subset against its full font: same advance widths and outline bounds."""
    with TTFont(core_path, lazy=True) as core, TTFont(full_path, lazy=True) as full:
        core_cmap, full_cmap = core.getBestCmap(), full.getBestCmap()
        cs, fs = core.getGlyphSet(), full.getGlyphSet()
        for char in chars:
            a, b = cs[core_cmap[ord(char)]], fs[full_cmap[ord(char)]]
            assert a.width == b.width, char
            pens = [BoundsPen(cs), BoundsPen(fs)]
            a.draw(pens[0])
            b.draw(pens[1])
            assert pens[0].bounds == pens[1].bounds, char


def test_latin_core_font_has_dejavu_sans_glyphs():
    latin_core, latin, *_ = _font_files()
    assert latin.name == "DejaVuSans.ttf"
    _same_glyphs(latin_core, latin, "Aa1%‰−–≤²αχ→é")
    with TTFont(latin_core, lazy=True) as core:
        assert core["maxp"].numGlyphs < 1_000 and 0x0416 not in core.getBestCmap()  # Ж: from DejaVu Sans


def test_toolkit_chars_hold_every_chinese_character_of_the_data_and_the_code():
    """plots.TOOLKIT_CHARS lists every Chinese character of data/processed's text columns and of the
    sources of analysis/ and notebooks/: what the toolkit itself can write into a figure."""
    from analysis.config import NOTEBOOKS_DIR, PROCESSED_DIR, ROOT

    found: dict[str, set[str]] = {}
    for path in sorted(PROCESSED_DIR.glob("*.parquet")):
        df = pd.read_parquet(path)
        for col in df.columns:
            if df[col].dtype == object or pd.api.types.is_string_dtype(df[col]):
                found[f"{path.name}:{col}"] = _cjk("".join(df[col].dropna().astype(str).unique()))
    assert sum(len(v) for k, v in found.items() if k.startswith("regions.parquet")) > 1_000  # the names were read
    for path in sorted((ROOT / "analysis").rglob("*.py")) + sorted(NOTEBOOKS_DIR.glob("*.ipynb")):
        found[str(path.relative_to(ROOT))] = _cjk(path.read_text(encoding="utf-8"))
    have = set(plots.toolkit_chars())
    missing = {where: "".join(sorted(chars - have)) for where, chars in found.items() if chars - have}
    assert missing == {}, f"add these characters to {plots.TOOLKIT_CHARS}: {missing}"
    assert 1_000 < len(have) < 3_000


def test_core_cjk_font_holds_the_toolkit_chars_with_the_full_fonts_glyphs():
    """The CJK core subset holds every toolkit character and CJK punctuation, and nothing else of
    GB 2312; its glyphs are the full font's (reference: same advance widths and outline bounds)."""
    core_path, full_path = _core_and_full_fonts()
    with TTFont(core_path, lazy=True) as core, TTFont(full_path, lazy=True) as full:
        core_cmap, full_cmap = core.getBestCmap(), full.getBestCmap()
        missing = sorted(c for c in plots.toolkit_chars() + "、。《》「」（），：；％" if ord(c) not in core_cmap and ord(c) in full_cmap)
        assert missing == []
        assert 1_000 < core["maxp"].numGlyphs < 3_000 < 60_000 < full["maxp"].numGlyphs
    _same_glyphs(core_path, full_path, "出生性别比埇鄠（）：、％１")


def test_common_cjk_font_holds_gb2312_with_the_full_fonts_glyphs():
    common_path, full_path = _font_files()[3:]
    with TTFont(common_path, lazy=True) as common:
        cmap = common.getBestCmap()
        assert all(ord(c) in cmap for c in "璀璨鼹齄啊")  # GB 2312 (the last two: its last and first hanzi)
        assert 0x3400 not in cmap and 7_000 < common["maxp"].numGlyphs < 10_000
    _same_glyphs(common_path, full_path, "璀璨鼹出（")


def test_characters_outside_the_core_fonts_fall_back_to_common_then_full_font(tmp_path):
    """璀璨 (GB 2312, in no region name or label) renders from the Common font, 㐀 (U+3400, CJK
    Extension A, not in GB 2312) from the full font; each is embedded beside the core."""
    plots.set_theme("zh")
    core_path, _ = _core_and_full_fonts()
    with TTFont(core_path, lazy=True) as core:
        assert not {0x3400, ord("璀"), ord("璨")} & set(core.getBestCmap())
    fig = _chinese_figure()
    fig.axes[0].set_xlabel("㐀 出生 璀璨")
    assert _glyph_warnings(fig) == []
    pdf = plots.save_figure(fig, tmp_path / "fig", formats=("pdf",))[0].read_bytes()
    for name in (b"NotoSansCJKscCore-Regular", b"NotoSansCJKscCommon-Regular", b"NotoSansCJKsc-Regular"):
        assert re.search(rb"/BaseFont /[A-Z]{6}\+" + name, pdf), name
    plt.close(fig)


def test_set_theme_settings():
    plots.set_theme("en", context="talk")
    rc = mpl.rcParams
    assert rc["pdf.fonttype"] == 42 and rc["svg.fonttype"] == "none"
    assert rc["font.family"] == plots.font_family() == [
        "DejaVu Sans Core", "DejaVu Sans", "Noto Sans CJK SC Core", "Noto Sans CJK SC Common", "Noto Sans CJK SC"
    ]  # fmt: skip
    assert rc["font.size"] == pytest.approx(8 * 1.6)
    assert tuple(rc["figure.figsize"]) == (3.5, pytest.approx(3.5 * 0.72))
    assert rc["axes.prop_cycle"].by_key()["color"][:2] == ["#0072B2", "#D55E00"]
    assert plots.label("year") == "Year"
    with pytest.raises(ValueError, match="lang"):
        plots.set_theme("fr")
    with pytest.raises(ValueError, match="context"):
        plots.set_theme("zh", context="poster")


def test_figsize():
    assert plots.figsize("double", aspect=0.5) == (7.2, 3.6)
    assert plots.figsize(5.0) == pytest.approx((5.0, 3.6))
    with pytest.raises(ValueError):
        plots.figsize("triple")


def test_label_dictionary():
    assert plots.label("srb", "zh") == "出生性别比（女=100）"
    assert plots.label("srb", "en") == "Sex ratio at birth (males per 100 females)"
    assert plots.label("cbr", "zh") == "粗出生率（‰）"
    assert "proxy" in plots.label("age0_sex_ratio", "en")
    assert "代理" in plots.label("age0_sex_ratio", "zh") or "近似" in plots.label("age0_sex_ratio", "zh")
    for key in plots.label_keys():
        assert re.search(r"[\u4e00-\u9fff]", plots.label(key, "zh")), key
        assert plots.label(key, "en").isascii() or "–" in plots.label(key, "en"), key
    with pytest.raises(KeyError, match="known keys: .*srb"):
        plots.label("sbr", "zh")
    with pytest.raises(ValueError):
        plots.label("srb", "de")


def test_save_figure_writes_png_pdf_svg(tmp_path):
    plots.set_theme("zh")
    fig = _chinese_figure()
    assert [p.name for p in plots.save_figure(fig, tmp_path / "default")] == ["default.png", "default.pdf"]
    for p in tmp_path.iterdir():
        p.unlink()
    paths = plots.save_figure(fig, tmp_path / "trend.png", dpi=300, bbox_inches=None, formats=("png", "pdf", "svg"))
    assert [p.name for p in paths] == ["trend.png", "trend.pdf", "trend.svg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "trend.pdf",
        "trend.png",
        "trend.svg",
    ]  # no temp left

    with Image.open(paths[0]) as img:
        assert img.info["dpi"] == pytest.approx((300, 300), abs=0.1)
        w, h = fig.get_size_inches()
        assert img.size == (round(w * 300), round(h * 300))

    pdf = paths[1].read_bytes()
    assert b"/FontFile2" in pdf and b"/CIDFontType2" in pdf  # TrueType (Type 42) outlines, embedded
    assert re.search(rb"/BaseFont /[A-Z]{6}\+NotoSansCJKscCore-Regular", pdf)  # the core subsets ...
    assert re.search(rb"/BaseFont /[A-Z]{6}\+DejaVuSansCore", pdf)
    assert not re.search(rb"/BaseFont /[A-Z]{6}\+(NotoSansCJKsc-Regular|DejaVuSans)\W", pdf)  # ... not the full fonts
    assert b"/ToUnicode" in pdf and b"CreationDate" not in pdf

    svg = paths[2].read_text(encoding="utf-8")
    assert ZH_TITLE in svg  # text kept as text
    assert "Noto Sans CJK SC" in svg and "<dc:date>" not in svg


def test_save_figure_is_deterministic(tmp_path):
    plots.set_theme("zh")
    first = plots.save_figure(_chinese_figure(), tmp_path / "a" / "fig", formats=("png", "pdf", "svg"))
    second = plots.save_figure(_chinese_figure(), tmp_path / "b" / "fig.svg", formats=("png", "pdf", "svg"))
    for p, q in zip(first, second, strict=True):
        assert p.name == q.name and p.read_bytes() == q.read_bytes(), p.name


@pytest.mark.parametrize("channels", [3, 4])
def test_png_bytes_decode_to_the_same_pixels_in_pillow(channels):
    """plots.png_bytes against an independent decoder (Pillow): same pixels, mode, dpi; synthetic seeded
    pixels, flat areas (as in figures) and noise, with an odd width."""
    rng = np.random.default_rng(20261124)
    pixels = np.full((37, 53, channels), 255, dtype=np.uint8)
    pixels[5:30, 7:40] = rng.integers(0, 256, size=(25, 33, channels), dtype=np.uint8)
    data = plots.png_bytes(pixels, dpi=300)
    with Image.open(io.BytesIO(data)) as img:
        img.load()  # checks every chunk's CRC and the zlib stream
        assert img.mode == ("RGB" if channels == 3 else "RGBA")
        assert img.info["dpi"] == pytest.approx((300, 300), abs=0.1)
        assert np.array_equal(np.asarray(img), pixels)
    with Image.open(io.BytesIO(plots.png_bytes(pixels))) as img:
        assert "dpi" not in img.info
    with pytest.raises(ValueError, match="uint8"):
        plots.png_bytes(pixels.astype(float))
    with pytest.raises(ValueError, match="shape"):
        plots.png_bytes(pixels[..., :2])


def test_save_figure_keeps_other_dots_and_checks_arguments(tmp_path):
    fig, ax = plt.subplots()
    assert [p.name for p in plots.save_figure(fig, tmp_path / "srb.v2", formats=("png",), dpi=200)] == [
        "srb.v2.png"
    ]
    with pytest.raises(ValueError, match="at least 200"):
        plots.save_figure(fig, tmp_path / "x", dpi=150)
    with pytest.raises(ValueError, match="formats"):
        plots.save_figure(fig, tmp_path / "x", formats=("jpg",))
    assert not list(tmp_path.glob("x*"))


@pytest.mark.skipif(shutil.which("pdffonts") is None, reason="poppler-utils (pdffonts) not installed")
def test_pdf_opens_in_poppler_with_embedded_truetype_font(tmp_path):
    plots.set_theme("zh")
    pdf = plots.save_figure(_chinese_figure(), tmp_path / "fig", formats=("pdf",))[0]
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
    assert "Mismatch" not in fonts.stderr and "Error" not in fonts.stderr
    cjk = [line for line in fonts.stdout.splitlines() if "NotoSansCJK" in line]
    assert cjk and "CID TrueType" in cjk[0] and " yes yes yes " in cjk[0]
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True)
    assert "出生性别比" in text.stdout and text.stderr == ""


def test_ci_errorbar_draws_the_interval():
    fig, ax = plt.subplots()
    plots.ci_errorbar(ax, [1, 2], [105.0, 110.0], [103.0, 107.5], [107.0, 112.0], label="SRB")
    segments = ax.collections[0].get_segments()
    assert [tuple(s[:, 1]) for s in segments] == [(103.0, 107.0), (107.5, 112.0)]
    with pytest.raises(ValueError, match="lower <= est <= upper"):
        plots.ci_errorbar(ax, [1], [100.0], [101.0], [102.0])
    with pytest.raises(ValueError, match="same length"):
        plots.ci_errorbar(ax, [1, 2], [100.0, 1.0], [99.0], [102.0, 3.0])


def test_ci_errorbar_rows_run_along_x_and_tolerate_rounding():
    """orient="h" (forest and caterpillar plots): the interval runs along x at each row's y; an estimate outside
    its bound by floating-point rounding is drawn (a zero-length whisker), by more it is an error."""
    fig, ax = plt.subplots()
    plots.ci_errorbar(ax, [1, 0], [105.0, 0.5], [103.0, 0.5 + 1e-12], [107.0, 0.7], orient="h")
    segments = ax.collections[0].get_segments()
    assert [tuple(s[:, 0]) for s in segments] == [(103.0, 107.0), (0.5, 0.7)]
    assert [tuple(s[:, 1]) for s in segments] == [(1.0, 1.0), (0.0, 0.0)]
    with pytest.raises(ValueError, match="positions \\[1\\]"):
        plots.ci_errorbar(ax, [1, 0], [105.0, 0.5], [103.0, 0.51], [107.0, 0.7], orient="h")
    plt.close(fig)


def test_ci_band_shades_between_bounds():
    fig, ax = plt.subplots()
    assert plots.ci_band(ax, [0, 1, 2], [1.0, 2.0, 3.0], [0.5, 1.5, 2.5], [1.5, 2.5, 3.5]) is ax
    verts = ax.collections[0].get_paths()[0].vertices
    assert verts[:, 1].min() == 0.5 and verts[:, 1].max() == 3.5
    assert ax.collections[0].get_facecolor()[0][:3] == pytest.approx(
        mpl.colors.to_rgb(ax.lines[0].get_color())
    )


def test_add_reference_line():
    fig, ax = plt.subplots()
    plots.add_reference_line(ax, 107.0, "正常上限 107")
    assert list(ax.lines[0].get_ydata()) == [107.0, 107.0]
    assert [t.get_text() for t in ax.texts] == ["正常上限 107"]


def test_policy_lines_on_year_and_date_axes():
    plots.set_theme("zh")
    fig, ax = plt.subplots()
    ax.plot([2010, 2020], [1, 2])
    plots.policy_lines(ax, ["2016-01-01", "2014-07-01", 2021], ["全面二孩", None, "三孩"])
    xs = [line.get_xdata()[0] for line in ax.lines[1:]]
    assert xs == pytest.approx([2016.0, 2014 + 181 / 365, 2021.0])  # 181 days before 1 July 2014
    assert [t.get_text() for t in ax.texts] == ["全面二孩", "三孩"]

    fig, ax = plt.subplots()
    ax.plot(pd.to_datetime(["2010-01-01", "2020-01-01"]), [1, 2])
    plots.policy_lines(ax, [pd.Timestamp("2016-01-01")], ["2016"])
    assert ax.lines[1].get_xdata()[0] == pytest.approx(mdates.date2num(pd.Timestamp("2016-01-01")))
    with pytest.raises(ValueError, match="labels"):
        plots.policy_lines(ax, ["2016-01-01"], ["a", "b"])
    with pytest.raises(ValueError, match="side"):
        plots.policy_lines(ax, ["2016-01-01"], ["a"], side="top")

    fig, ax = plt.subplots()  # labels left of their line: they end where it is
    ax.plot([2010, 2020], [1, 2])
    plots.policy_lines(ax, [2014], ["selective"], side="left")
    fig.canvas.draw()
    box = ax.texts[0].get_window_extent(fig.canvas.get_renderer())
    line_x = ax.transData.transform((2014, 0))[0]
    assert box.x1 <= line_x < box.x1 + 5
    plt.close("all")


def test_policy_labels_go_where_the_data_leave_room():
    """where="auto": a label goes to the end of its line (top or bottom) where it covers fewer drawn points."""
    plots.set_theme("en")
    years = np.arange(2003, 2016)
    rising = np.clip(30 + 15 * (years - 2012), 30, 60).astype(float)  # crosses the top-left of the 2014 line
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(years, rising, "o-")
    plots.policy_lines(ax, [2014], ["selective 2014"], side="left")
    assert len(ax.texts) == 1 and ax.texts[0].get_va() == "bottom"
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(years, -rising, "o-")  # the mirror image: the data fill the bottom-left
    plots.policy_lines(ax, [2014], ["selective 2014"], side="left")
    assert len(ax.texts) == 1 and ax.texts[0].get_va() == "top"
    fig, ax = plt.subplots(figsize=(5, 3))  # a band and an error bar count too; a tie goes to the top
    ax.fill_between(years, rising - 1, rising + 1)
    ax.errorbar(years, rising, yerr=1, fmt="none")
    plots.policy_lines(ax, [2014, 2008], ["selective 2014", "empty"], side="left")
    assert [t.get_va() for t in ax.texts] == ["bottom", "top"]
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(years, rising, "o-")
    plots.policy_lines(ax, [2014], ["selective 2014"], side="left", where="top")
    assert [t.get_va() for t in ax.texts] == ["top"]
    with pytest.raises(ValueError, match="where"):
        plots.policy_lines(ax, [2014], ["a"], where="middle")
    # side="auto": the side with room; a second label never lands on the first while another place is free
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(years, np.where(years < 2010, 60.0, 30.0), "o-")  # high on the left of 2010, low on its right
    ax.plot(years, np.where(years < 2010, 30.0, 30.0), "o")
    plots.policy_lines(ax, [2010], ["universal two-child 2016"], side="auto")
    assert len(ax.texts) == 1 and ax.texts[0].get_ha() == "left"  # drawn to the right of its line
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(years, np.full(len(years), 1.0), "o")
    plots.policy_lines(ax, [2009, 2009.1], ["selective two-child 2014", "universal two-child 2016"], side="auto")
    fig.canvas.draw()
    first, second = (t.get_window_extent() for t in ax.texts)
    assert not first.overlaps(second)
    plt.close("all")


def test_sample_figure_is_journal_sized(tmp_path):
    """A realistic figure (seeded synthetic series with CI band and policy lines) saves at 3.5 in wide."""
    rng = np.random.default_rng(20261124)
    print("seed 20261124")
    plots.set_theme("zh")
    years = np.arange(2000, 2024)
    est = 118 - 0.35 * (years - 2000) + rng.normal(0, 0.6, years.size)
    fig, ax = plt.subplots()
    plots.ci_band(
        ax, years, est, est - 1.5, est + 1.5, label=plots.label("observed"), band_label=plots.label("ci95")
    )
    plots.add_reference_line(ax, 107, plots.label("normal_srb"))
    plots.policy_lines(ax, ["2016-01-01"], [plots.label("universal_two_child_2016")])
    ax.set(xlabel=plots.label("year"), ylabel=plots.label("srb"), title="合成数据示例")
    ax.legend()
    png = plots.save_figure(fig, tmp_path / "sample", formats=("png",))[0]
    with Image.open(png) as img:
        width_in = img.size[0] / img.info["dpi"][0]
    assert 3.0 < width_in < 3.8
    assert Path(png).stat().st_size > 10_000


def _png_array(path_or_bytes) -> np.ndarray:
    src = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with Image.open(src) as img:
        return np.asarray(img.convert("RGBA"), dtype=float)


def test_tight_png_matches_matplotlibs_own_tight_savefig(tmp_path):
    """Reference: ``fig.savefig(bbox_inches="tight")``. save_figure draws once and crops; the result may
    differ by a pixel of size and by anti-aliasing, nothing more."""
    plots.set_theme("zh")
    fig = _chinese_figure()
    fig.set_size_inches(4.5, 3.5)
    fig.tight_layout()  # content inside the canvas: the single-drawing path
    assert plots._draw_tight(fig, 300)[0] is not None
    fig.savefig = lambda *a, **k: pytest.fail("save_figure fell back to savefig")  # it draws once, itself
    ours = _png_array(plots.save_figure(fig, tmp_path / "ours", formats=("png",))[0])
    del fig.savefig
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=300, bbox_inches="tight", pad_inches=0.03)
    ref = _png_array(buf.getvalue())
    assert abs(ours.shape[0] - ref.shape[0]) <= 2 and abs(ours.shape[1] - ref.shape[1]) <= 2
    h, w = min(ours.shape[0], ref.shape[0]), min(ours.shape[1], ref.shape[1])
    assert np.abs(ours[:h, :w] - ref[:h, :w]).mean() < 3.0  # of 255: sub-pixel shifts of anti-aliased edges
    assert ours.shape[0] * ours.shape[1] < 0.95 * np.prod(fig.get_size_inches() * 300)  # it was cropped


def test_content_outside_the_figure_is_kept(tmp_path):
    """A label outside the canvas: the tight box is larger than the figure, so the PNG is wider than it."""
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1])
    fig.text(1.15, 0.5, "outside")
    assert plots._draw_tight(fig, 300)[0] is None  # savefig draws it, on an enlarged canvas
    png = plots.save_figure(fig, tmp_path / "wide", formats=("png",))[0]
    with Image.open(png) as img:
        assert img.width > 3 * 300


def test_show_displays_the_png_at_the_figure_dpi_and_closes_the_figure(tmp_path, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    plots.set_theme("zh")
    fig = _chinese_figure()
    assert plt.fignum_exists(fig.number)
    png = plots.save_figure(fig, tmp_path / "fig", show=True)[0]
    assert not plt.fignum_exists(fig.number)
    (image,) = shown
    with Image.open(png) as full, Image.open(io.BytesIO(image.data)) as small:
        assert np.allclose(small.size, (full.width * fig.dpi / 300, full.height * fig.dpi / 300), atol=1)
    with pytest.raises(ValueError, match="displays the PNG"):
        plots.save_figure(fig, tmp_path / "x", formats=("pdf",), show=True)


def test_font_cache_is_keyed_by_content_not_path(tmp_path, monkeypatch):
    """The same font in two clones (other path, other mtime) shares one cached conversion; a changed
    font gets its own."""
    monkeypatch.setattr(plots, "_font_cache_dir", lambda: tmp_path / "cache")
    src = Path(font_manager.findfont("DejaVu Sans"))
    a, b = tmp_path / "a" / src.name, tmp_path / "b" / src.name
    for copy in (a, b):
        copy.parent.mkdir()
        shutil.copyfile(src, copy)
    b.touch()  # a later mtime
    built = []

    def build(source: Path, index: int, dst: Path) -> None:
        built.append(source)
        dst.write_bytes(source.read_bytes())

    assert plots._cached_font(a, 0, "test-1", build, "test") == plots._cached_font(b, 0, "test-1", build, "test")
    assert built == [a]
    with open(b, "r+b") as fh:  # another version of the font
        fh.seek(-4, 2)
        fh.write(b"\0\0\0\1")
    assert plots._cached_font(b, 0, "test-1", build, "test").is_file()
    assert built == [a, b]


def test_wrap_label_counts_chinese_characters_twice():
    """Hand-made cases: a Chinese character is two columns, so 10 of them fill a 20-column line."""
    assert plots.wrap_label("一二三四五六七八九十甲乙", 20) == "一二三四五六七八九十\n甲乙"
    assert plots.wrap_label("one two three four", 9) == "one two\nthree\nfour"
    # closing punctuation stays with what it closes, opening punctuation with what it opens
    assert plots.wrap_label("一二三四（五六）", 10) == "一二三四\n（五六）"
    assert plots.wrap_label("一二三四五六七（八九）", 16) == "一二三四五六七\n（八九）"
    # an equation stays whole; a word longer than a line is not cut; spaces at line ends go
    assert plots.wrap_label("label n = 539,926", 10) == "label\nn = 539,926"
    assert plots.wrap_label("  supercalifragilistic  word ", 5) == "supercalifragilistic\nword"
    assert plots.wrap_label("a b\nc d", 80) == "a b\nc d"
    assert plots.wrap_label("合并 · 健康档案建档率 · n = 539,926", 24) == "合并 · 健康档案建档率 ·\nn = 539,926"
    assert not any(line.startswith("·") for line in plots.wrap_label("aaaa bbbb · cccc", 9).split("\n"))
    with pytest.raises(ValueError, match="width"):
        plots.wrap_label("x", 1)


def test_ci_label_names_the_level():
    assert plots.ci_label(0.05, "zh") == "95%置信区间" == plots.label("ci95", "zh")
    assert plots.ci_label(0.1, "en") == "90% CI" and plots.ci_label(0.005, "en") == "99.5% CI"
    with pytest.raises(ValueError, match="lang"):
        plots.ci_label(0.05, "fr")
    assert plots.ci_label(0.05, "zh", kind="credible") == "95%可信区间"
    assert plots.ci_label(0.2, "en", kind="credible", of="EB") == "EB, 80% credible interval"
    assert plots.ci_label(0.05, "zh", of="估计值") == "估计值（95%置信区间）"
    with pytest.raises(ValueError, match="kind"):
        plots.ci_label(0.05, "en", kind="bayes")


def test_log_axis_labels_are_plain_numbers():
    """Counts on a log axis read 1,000 · 10,000 (no mathtext); a narrow ratio axis labels its minor ticks."""
    fig, ax = plt.subplots()
    plots.log_axis(ax)
    ax.set_xlim(500, 300_000)
    fig.canvas.draw()
    shown = [t.get_text() for t in ax.get_xticklabels() if 500 <= t.get_position()[0] <= 300_000]
    assert shown == ["1,000", "10,000", "100,000"]
    ax.set_xlim(0.85, 1.2)
    fig.canvas.draw()
    minor = {round(t.get_position()[0], 6): t.get_text() for t in ax.get_xticklabels(minor=True)}
    assert minor[0.9] == "0.9" and not any("$" in t.get_text() for t in ax.get_xticklabels())
    plt.close(fig)


def _overlapping_pairs(fig, texts) -> int:
    fig.canvas.draw()
    boxes = [t.get_window_extent(fig.canvas.get_renderer()) for t in texts]
    return sum(boxes[i].overlaps(boxes[j]) for i in range(len(boxes)) for j in range(i + 1, len(boxes)))


def test_label_points_keeps_labels_apart_and_is_repeatable():
    """Eight labels on a tight cluster of points (seeded synthetic): placed at their points they overlap; after
    label_points none do, each keeps its text, and the same input gives the same positions."""
    rng = np.random.default_rng(7)
    x, y = rng.normal(5, 0.05, 8), rng.normal(5, 0.05, 8)
    names = [f"unit {i}" for i in range(8)]
    positions = []
    for _ in range(2):
        fig, ax = plt.subplots(figsize=(4, 3))
        pts = ax.scatter(x, y)
        ax.set(xlim=(0, 10), ylim=(0, 10))
        naive = [ax.text(a, b, s) for a, b, s in zip(x, y, names, strict=True)]
        assert _overlapping_pairs(fig, naive) > 0
        for t in naive:
            t.remove()
        texts = plots.label_points(ax, x, y, names, avoid=pts)
        assert [t.get_text() for t in texts] == names
        assert _overlapping_pairs(fig, texts) == 0
        assert ax.patches  # leader lines to the labels moved away from their points
        positions.append([t.get_position() for t in texts])
        plt.close(fig)
    assert positions[0] == positions[1]
    with pytest.raises(ValueError, match="labels"):
        plots.label_points(ax, [1, 2], [1, 2], ["a"])


def test_label_points_keeps_labels_off_the_legend():
    """Three points just under the legend (upper right; seeded synthetic x): their labels, which grow up and to
    the right of the points, would reach into the legend (two did before the legend was an obstacle); now none
    overlaps it."""
    plots.set_theme("en")
    rng = np.random.default_rng(3)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 10], [0, 5], label="95% limits")
    ax.plot([0, 10], [1, 4], label="target 105")
    ax.set(xlim=(0, 10), ylim=(0, 10))
    legend = ax.legend(loc="upper right", fontsize=8)
    fig.canvas.draw()
    box = legend.get_window_extent(fig.canvas.get_renderer())
    inner = box.transformed(ax.transData.inverted())
    x, y = rng.uniform(inner.x0 + 0.3, inner.x1 - 1.0, 3), inner.y0 - 0.25 + rng.uniform(-0.1, 0.1, 3)
    pts = ax.scatter(x, y)
    texts = plots.label_points(ax, x, y, [f"unit {i}" for i in range(3)], avoid=pts)
    fig.canvas.draw()
    assert not any(t.get_window_extent(fig.canvas.get_renderer()).overlaps(box) for t in texts)
    plt.close(fig)


def test_legend_on_top_keeps_the_data_clear():
    """Points reaching the top of the axes: the legend goes along the top and the y-axis is raised until the
    highest point lies below the legend's box; ``outside`` puts it above the axes and leaves the axis alone."""
    plots.set_theme("en")
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([0, 1, 2, 3], [1, 5, 2, 5], "o", label="estimates")
    ax.axhline(0.5, ls="--", label="reference 0.5")
    top_before = ax.get_ylim()[1]
    legend = plots.legend_on_top(ax)
    assert legend is not None and ax.get_ylim()[1] > top_before
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert len({round(t.get_window_extent(renderer).y0) for t in legend.get_texts()}) == 1  # one row
    box = legend.get_window_extent(renderer)
    highest = ax.transData.transform((1, 5))[1]
    assert highest < box.y0
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([0, 1], [1, 5], "o", label="a")
    ax.set_ylim(0, 4)  # 5 deliberately left out
    plots.legend_on_top(ax, outside=True)
    assert ax.get_ylim() == (0, 4)
    fig, ax = plt.subplots()
    assert plots.legend_on_top(ax) is None  # nothing to name


def test_policy_labels_in_sentence_case_unboxed_and_wrapped_when_long():
    """A label starts with a capital, has no box (a band stays visible through it) and is wrapped when it runs
    longer than 60% of the axes' height (it ran into the x axis in the Hong Kong/Macao panels)."""
    plots.set_theme("en")
    fig, ax = plt.subplots(figsize=(3.4, 3.5))
    ax.plot([2014, 2020], [1, 2])
    long = "mainland universal two-child + 9 months, from 2016-10"
    plots.policy_lines(ax, [2015, 2016.75], ["selective two-child 2014", long], side="left", where="top")
    short, wrapped = (t.get_text() for t in ax.texts)
    assert short == "Selective two-child 2014" and ax.texts[0].get_bbox_patch() is None
    assert wrapped.replace("\n", " ") == "M" + long[1:] and wrapped.count("\n") >= 1
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert ax.texts[1].get_window_extent(renderer).height <= 0.6 * ax.get_window_extent(renderer).height
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))  # room enough: one line
    plots.policy_lines(ax, [2016], ["universal two-child 2016"])
    assert ax.texts[0].get_text() == "Universal two-child 2016"
    plt.close(fig)


def test_label_points_keeps_labels_off_lines():
    """A point on a horizontal reference line with a control-limit curve just above (seeded synthetic): a label
    placed at the point sits on the reference line; label_points moves it clear of both lines, which it follows
    along their length (Tianhe's label sat on the 115.5 line of its funnel)."""
    plots.set_theme("en")
    fig, ax = plt.subplots(figsize=(4, 3))
    x = np.linspace(0, 10, 50)
    ref, = ax.plot([0, 10], [5, 5], color="k")
    limit, = ax.plot(x, 5.6 + 0.02 * x, ls=":")
    rng = np.random.default_rng(11)
    pts = ax.scatter(rng.uniform(0, 10, 20), rng.uniform(0, 10, 20))
    ax.set(xlim=(0, 10), ylim=(0, 10))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()

    def on_a_line(text) -> bool:
        box = text.get_window_extent(renderer)
        drawn = [plots._along(line.get_transform().transform(line.get_xydata())) for line in (ref, limit)]
        return any(box.contains(px, py) for xy in drawn for px, py in xy)

    naive = ax.text(5, 5, "Tianhe District")
    assert on_a_line(naive)
    naive.remove()
    (label,) = plots.label_points(ax, [5], [5], ["Tianhe District"], avoid=pts)
    fig.canvas.draw()
    assert not on_a_line(label)
    plt.close(fig)
