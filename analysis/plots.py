"""One figure theme for the whole project: CJK fonts, bilingual labels, journal-ready export.

- :func:`set_theme` — thin spines, readable sizes (8 pt text at ``context="paper"``), the Okabe–Ito
  colour-blind-safe palette (Okabe & Ito 2008, https://jfly.uni-koeln.de/color/), 3.5 in (single
  column) figures, and a font chain *Latin core → Latin font → CJK core → CJK common → CJK font* (:func:`font_family`)
  so Chinese and English labels both render and PDF export stays fast.
- :func:`register_cjk_font` — finds a CJK font: a system Noto Sans CJK SC / Source Han Sans SC if
  present, else the Noto Sans CJK SC (SIL OFL 1.1) shipped by the ``mplfonts`` package.
  Noto Sans CJK is an OpenType font with CFF (PostScript) outlines. Matplotlib's PDF backend embeds
  every font for ``pdf.fonttype 42`` as ``CIDFontType2``/``FontFile2`` (TrueType), which is wrong for
  CFF data (poppler: "Mismatch between font type and embedded font file"; matplotlib issue #20870).
  We therefore convert the CFF outlines once to TrueType quadratic outlines with fontTools' cu2qu
  (max. error 1 font unit = 0.1 % of the em, invisible) and cache the result under matplotlib's
  cache folder; PDFs then embed a valid subset (CID TrueType) with editable, searchable text.
  Cached subsets of it — "Core" (the Chinese characters the toolkit itself writes: region names,
  labels, titles; :data:`TOOLKIT_CHARS`) and "Common" (GB 2312) — and a "Core" subset of DejaVu Sans
  are what PDFs usually embed from.
- :func:`label` — bilingual (zh/en) axis and legend labels.
- :func:`save_figure` — PNG (≥ 200 dpi) + PDF (+ SVG on request), byte-identical for the same figure, written
  atomically.
- :func:`ci_errorbar`, :func:`ci_band`, :func:`add_reference_line`, :func:`policy_lines` — small helpers;
  :func:`label_points` names points with labels that do not overlap (adjustText).
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import functools
import hashlib
import importlib.util
import io
import logging
import os
import re
import textwrap
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import matplotlib as mpl
import numpy as np
from adjustText import adjust_text, get_bboxes_pathcollection
from matplotlib import font_manager, ticker
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.layout_engine import PlaceHolderLayoutEngine
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from analysis.outputs import atomic_path

__all__ = [
    "DOUBLE_COLUMN",
    "FIGURE_SUFFIXES",
    "OKABE_ITO",
    "SINGLE_COLUMN",
    "add_reference_line",
    "ci_band",
    "ci_errorbar",
    "ci_label",
    "figsize",
    "font_family",
    "label",
    "label_keys",
    "label_points",
    "legend_on_top",
    "png_bytes",
    "policy_lines",
    "register_cjk_font",
    "save_figure",
    "set_theme",
    "wrap_label",
]

_log = logging.getLogger(__name__)

#: Figure widths in inches: single journal column and full page width.
SINGLE_COLUMN = 3.5
DOUBLE_COLUMN = 7.2
#: Okabe–Ito colour-blind-safe palette (yellow last: weak on white).
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")
_CONTEXT_SCALE = {"paper": 1.0, "notebook": 1.25, "talk": 1.6}
_BASE_SIZE = 8.0  # pt, body text of a figure at context="paper"
_PAD_INCHES = 0.03  # white margin around a saved figure's tight bounding box

#: Preferred CJK families, system fonts first; the packaged Noto Sans CJK SC is the last resort.
CJK_FAMILIES = ("Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", "Source Han Sans CN")
_PACKAGED_FONT = ("mplfonts", "fonts/NotoSansCJKsc-Regular.otf")
_CONVERTER_VERSION = "cu2qu-2"
_CORE_VERSION = "core-5"
_LATIN_FAMILY = "DejaVu Sans"  # ships with matplotlib; has U+2212 (minus), so unicode_minus stays on

#: The Chinese characters the toolkit itself puts into figures: those of every text column of
#: ``data/processed`` (region names …) and of the sources of ``analysis/`` and ``notebooks/`` (labels,
#: titles). A test keeps it complete; the CJK "Core" font holds exactly these (plus CJK punctuation).
TOOLKIT_CHARS = Path(__file__).with_name("core_zh.txt")
#: OpenType features that horizontal text shaping (libraqm) applies by default; the core font keeps
#: these. Not 'locl': in a Simplified Chinese font it only maps to Japanese, Korean and Traditional
#: forms (for text tagged with those languages), and would keep 5,700 more glyphs.
_HORIZONTAL_FEATURES = ("ccmp", "kern", "liga", "clig", "calt", "rlig", "mark", "mkmk")

_state: dict[str, Any] = {
    "lang": "en", "cjk_family": None, "cjk_core_family": None, "cjk_common_family": None, "latin_core_family": None
}  # fmt: skip


# --------------------------------------------------------------------------------------------- fonts
def _packaged_font_path() -> Path:
    spec = importlib.util.find_spec(_PACKAGED_FONT[0])  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package 'mplfonts' is not installed; it provides Noto Sans CJK SC")
    path = Path(next(iter(spec.submodule_search_locations))) / _PACKAGED_FONT[1]
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed 'mplfonts' package")
    return path


def _find_system_cjk_font(exclude: Sequence[Path]) -> tuple[Path, int] | None:
    """First regular-weight system font of a family in :data:`CJK_FAMILIES` (not under ``exclude``)."""
    for family in CJK_FAMILIES:
        for entry in font_manager.fontManager.ttflist:
            fname = Path(entry.fname)
            if (
                entry.name == family
                and entry.style == "normal"
                and font_manager.weight_dict.get(entry.weight, entry.weight) == 400
                and not any(folder in fname.parents for folder in exclude)
                and fname.is_file()
            ):
                return fname, int(getattr(entry, "index", 0))
    return None


def _is_cff(path: Path, index: int) -> bool:
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=index, lazy=True) as font:
        return "CFF " in font or "CFF2" in font


def _convert_cff_to_truetype(src: Path, index: int, dst: Path) -> None:
    """Write ``dst``: the font ``src`` with CFF outlines converted to TrueType (glyf) outlines.

    Cubic Béziers are approximated by quadratic splines (fontTools cu2qu, max. error 1 font unit);
    metrics, cmap, names and layout tables are kept. Follows fontTools' ``otf2ttf`` snippet.
    """
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import TTFont, newTable

    font = TTFont(src, fontNumber=index, recalcTimestamp=False)
    order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyphs = {}
    for name in order:
        pen = TTGlyphPen(None)
        glyph_set[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
        glyphs[name] = pen.glyph()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = glyphs
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    for tag in ("CFF ", "CFF2", "VORG"):
        if tag in font:
            del font[tag]
    glyf.compile(font)
    hmtx = font["hmtx"]
    for name, glyph in glyf.glyphs.items():
        if hasattr(glyph, "xMin"):
            hmtx[name] = (hmtx[name][0], glyph.xMin)
    maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    maxp.numGlyphs = len(order)
    maxp.maxZones = 1
    for field in (
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
    ):
        setattr(maxp, field, 0)
    font["maxp"] = maxp
    post = font["post"]
    post.formatType = 3.0  # for now no names: 65,535 CID names do not fit a format-2 table
    post.extraNames = []
    post.mapping = {}
    font.sfntVersion = "\x00\x01\x00\x00"
    buffer = io.BytesIO()
    font.save(buffer)
    _write_with_format2_names(buffer.getvalue(), dst)


def _write_with_format2_names(data: bytes, dst: Path) -> None:
    """Write the font ``data`` to ``dst`` with glyph names in a 'post' format-2 table.

    Readers then need not synthesise 65,535 names from the cmap (about 0.5 s on every PDF save,
    when matplotlib subsets the font with fontTools).
    """
    from fontTools.ttLib import TTFont

    with TTFont(io.BytesIO(data)) as probe:
        names = _format2_glyph_names(probe)
    font = TTFont(io.BytesIO(data), recalcTimestamp=False)
    font.setGlyphOrder(names)  # before any table is read, so every table is read with these names
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    with atomic_path(dst) as tmp:
        font.save(tmp)


def _format2_glyph_names(font: Any) -> list[str]:
    """Unique glyph names in glyph-id order with at most 65,278 non-standard names.

    Mapped glyphs get AGL names (``A``, ``space``) or ``uniXXXX``; others ``g<id>``. A 'post'
    format-2 table indexes names with uint16 and reserves 258 standard Macintosh names, so if
    needed, unused standard names are given to unmapped glyphs (names carry no meaning for PDF
    embedding; text is mapped by the cmap/ToUnicode).
    """
    from fontTools import agl
    from fontTools.ttLib.standardGlyphOrder import standardGlyphOrder

    n = font["maxp"].numGlyphs
    names: list[str | None] = [None] * n
    names[0] = ".notdef"
    used = {".notdef"}
    cmap_table = font["cmap"].getBestCmap() or {}
    old_order = font.getGlyphOrder()
    gid_of = {name: i for i, name in enumerate(old_order)}
    for cp, old in sorted(cmap_table.items()):
        gid = gid_of[old]
        if names[gid] is None:
            name = agl.UV2AGL.get(cp) or (f"uni{cp:04X}" if cp <= 0xFFFF else f"u{cp:05X}")
            if name not in used:
                names[gid] = name
                used.add(name)
    spare = iter(name for name in standardGlyphOrder if name not in used)
    custom = sum(1 for name in names if name is not None and name not in standardGlyphOrder)
    custom += sum(1 for name in names if name is None)
    for gid in range(n):
        if names[gid] is None:
            if custom > 65278:
                names[gid] = next(spare)
                custom -= 1
            else:
                names[gid] = f"g{gid}"
    return names  # type: ignore[return-value]


def _font_cache_dir() -> Path:
    return Path(mpl.get_cachedir()) / "cnfp-fonts"


def _cached_font(src: Path, index: int, kind: str, build: Any, what: str) -> Path:
    """Path of a font derived from ``src`` by ``build(src, index, dst)``, built once and cached in
    matplotlib's cache folder, keyed by the source font's content (its size and first and last MiB, so
    that every clone and environment with the same font shares one entry) and ``kind``, which names the
    builder's version."""
    digest = hashlib.sha256(f"{src.name}|{index}|{src.stat().st_size}|{kind}".encode())
    with open(src, "rb") as fh:
        digest.update(fh.read(1 << 20))
        fh.seek(max(0, src.stat().st_size - (1 << 20)))
        digest.update(fh.read())
    key = digest.hexdigest()[:16]
    cache = _font_cache_dir()
    dst = cache / f"{src.stem}-{index}-{kind}-{key}.ttf"
    if dst.is_file():
        return dst
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{dst.name}.lock", "w") as lock:  # one builder at a time (parallel batch kernels)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not dst.is_file():
            _log.warning("%s %s (once) -> %s", what, src, dst)
            build(src, index, dst)
    return dst


def _truetype_version(src: Path, index: int) -> Path:
    """Path of a TrueType-outline copy of ``src`` (built once, cached in matplotlib's cache folder)."""
    return _cached_font(
        src, index, _CONVERTER_VERSION, _convert_cff_to_truetype, "Converting to TrueType outlines for PDF embedding (~1 min):"
    )


def toolkit_chars() -> str:
    """The characters of :data:`TOOLKIT_CHARS` (lines starting with ``#`` are comments), sorted."""
    text = TOOLKIT_CHARS.read_text(encoding="utf-8")
    return "".join(sorted({c for line in text.splitlines() if not line.startswith("#") for c in line if not c.isspace()}))


#: CJK punctuation and full-width forms (、。《》「」（），：；％ …); general punctuation comes from DejaVu Sans
_CJK_PUNCTUATION = ((0x3000, 0x303F), (0xFF00, 0xFFEF))


def _cjk_core_codepoints() -> frozenset[int]:
    """Code points of the CJK "Core" font: :func:`toolkit_chars` (≈1,500) and CJK punctuation."""
    return frozenset({ord(c) for c in toolkit_chars()} | _from_ranges(_CJK_PUNCTUATION))


def _cjk_common_codepoints() -> frozenset[int]:
    """Code points of the CJK "Common" font: GB 2312 (6,763 hanzi, 682 symbols), ASCII, general and
    CJK punctuation, full-width forms."""
    gb2312 = set()
    for row in range(0xA1, 0xF8):
        for cell in range(0xA1, 0xFF):
            try:
                gb2312.add(ord(bytes((row, cell)).decode("gb2312")))
            except UnicodeDecodeError:
                continue
    ranges = ((0x20, 0x7E), (0xA0, 0xFF), (0x2000, 0x206F), *_CJK_PUNCTUATION)
    return frozenset(gb2312 | _from_ranges(ranges))


def _latin_core_codepoints() -> frozenset[int]:
    """Code points of the core Latin font: Latin letters to Latin Extended-A, Greek letters, general
    punctuation (‰ ‒ – — …), super- and subscripts, currency signs, simple arrows, − ≈ ≠ ≤ ≥."""
    ranges = ((0x20, 0x17F), (0x391, 0x3C9), (0x2000, 0x20CF), (0x2190, 0x2193), (0x2212, 0x2212),
              (0x2248, 0x2248), (0x2260, 0x2265))  # fmt: skip
    return frozenset(_from_ranges(ranges))


def _from_ranges(ranges: Iterable[tuple[int, int]]) -> set[int]:
    return {cp for lo, hi in ranges for cp in range(lo, hi + 1)}


def _build_core_subset(
    src: Path, index: int, dst: Path, *, codepoints: Callable[[], frozenset[int]], suffix: str = "Core"
) -> None:
    """Write ``dst``: the TrueType font ``src`` cut down to ``codepoints()`` and the horizontal layout
    features, renamed '<family> <suffix>' so that it can sit before the full font in the font chain.

    Made cheap to subset again at every PDF save: no glyph names (PDF text is mapped to Unicode by the
    ToUnicode CMap matplotlib writes, not by names) and a single Windows Unicode BMP cmap, since every core
    code point is in the BMP. That takes about half of the per-save subsetting time off."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options(
        glyph_names=False, notdef_outline=True, recommended_glyphs=True, name_IDs=["*"], name_languages=["*"]
    )
    options.layout_features = list(_HORIZONTAL_FEATURES)
    options.drop_tables += ["vhea", "vmtx", "VORG", "BASE", "FFTM"]  # vertical metrics, baselines: unused
    font = TTFont(src, fontNumber=index, recalcTimestamp=False)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=codepoints())
    subsetter.subset(font)
    cmap = font["cmap"]
    if max(codepoints()) <= 0xFFFF and cmap.getcmap(3, 1) is not None:
        cmap.tables = [cmap.getcmap(3, 1)]
    name = font["name"]
    family = name.getBestFamilyName()
    ps_name = name.getDebugName(6) or family.replace(" ", "")
    for name_id in (1, 3, 4, 6, 16, 17):
        name.removeNames(nameID=name_id)
    core_ps = ps_name.replace("-", f"{suffix}-", 1) if "-" in ps_name else f"{ps_name}{suffix}"
    for name_id, text in ((1, f"{family} {suffix}"), (3, core_ps), (4, f"{family} {suffix}"), (6, core_ps)):
        name.setName(text, name_id, 3, 1, 0x409)
        name.setName(text, name_id, 1, 0, 0)
    with atomic_path(dst) as tmp:
        font.save(tmp)


def _core_version(src: Path, index: int, subset: Literal["latin", "cjk", "cjk-common"]) -> Path:
    """Path of a subset of the TrueType font ``src`` (built once in a few seconds, cached): the Latin
    or CJK "Core", or the CJK "Common" font. The CJK core's cache key includes its characters."""
    if subset == "cjk-common":
        kind, suffix, codepoints = f"{_CORE_VERSION}-cjk-common", "Common", _cjk_common_codepoints
    elif subset == "cjk":
        chars = hashlib.sha256(toolkit_chars().encode()).hexdigest()[:8]
        kind, suffix, codepoints = f"{_CORE_VERSION}-cjk-{chars}", "Core", _cjk_core_codepoints
    else:
        kind, suffix, codepoints = f"{_CORE_VERSION}-latin", "Core", _latin_core_codepoints
    build = functools.partial(_build_core_subset, codepoints=codepoints, suffix=suffix)  # computed only to build
    return _cached_font(src, index, kind, build, "Building a subset of")


def _register(path: Path, index: int) -> str:
    """Add a font file to matplotlib's font manager as the only entry of its family; return the family."""
    family = font_manager.ttfFontProperty(FT2Font(path, face_index=index)).name
    mgr = font_manager.fontManager
    if not any(Path(e.fname) == path for e in mgr.ttflist):
        mgr.addfont(path)
    names = {e.name for e in mgr.ttflist if Path(e.fname) == path}
    mgr.ttflist = [e for e in mgr.ttflist if e.name not in names or Path(e.fname) == path]
    mgr._findfont_cached.cache_clear()
    return family


def register_cjk_font(path: str | os.PathLike[str] | None = None) -> str:
    """Register a CJK font with matplotlib and return its family name.

    ``path`` — a font file to use instead of the search (system Noto Sans CJK SC / Source Han Sans
    SC first, then the packaged Noto Sans CJK SC). CFF-outline fonts are used through a cached
    TrueType conversion (see the module docstring). Its cached subsets ('<family> Core' and
    '<family> Common', see :func:`font_family`) are registered too. Other font-manager entries with the
    same family names are removed so that matplotlib picks the registered files.
    """
    if path is None and _state["cjk_family"] is not None:
        return _state["cjk_family"]
    if path is not None:
        src, index = Path(path), 0
    else:
        packaged = _packaged_font_path()
        found = _find_system_cjk_font(exclude=(packaged.parent, _font_cache_dir()))
        src, index = found if found is not None else (packaged, 0)
    usable, face = (_truetype_version(src, index), 0) if _is_cff(src, index) else (src, index)
    family = _register(usable, face)
    _state["cjk_core_family"] = _register(_core_version(usable, face, "cjk"), 0)
    _state["cjk_common_family"] = _register(_core_version(usable, face, "cjk-common"), 0)
    _state["cjk_family"] = family
    return family


def font_family() -> list[str]:
    """The font chain for ``rcParams["font.family"]``: DejaVu Sans (Latin letters, digits, minus sign)
    preceded by its core subset, then a CJK font preceded by two subsets of it.

    Matplotlib picks a font per glyph from this chain; a font is embedded in a PDF only if a glyph
    of it is used, and PDF export subsets each embedded font with fontTools on every save, at a cost
    that grows with the font's glyph count: ≈0.06 s for DejaVu Sans and ≈0.4 s for the CJK font.
    Hence the subsets: Latin "Core" (≈500 of 6,241 glyphs, ≈0.01 s), CJK "Core" (the toolkit's own
    characters, :data:`TOOLKIT_CHARS`, ≈1,900 glyphs, ≈0.02 s) and CJK "Common" (GB 2312, 7,800
    glyphs, ≈0.06 s) for a user's other Chinese text. Every other character still renders, from the
    full fonts.
    """
    full = register_cjk_font()
    if _state["latin_core_family"] is None:
        latin = Path(font_manager.findfont(font_manager.FontProperties(family=_LATIN_FAMILY), fallback_to_default=False))
        _state["latin_core_family"] = _register(_core_version(latin, 0, "latin"), 0)
    return [_state["latin_core_family"], _LATIN_FAMILY, _state["cjk_core_family"], _state["cjk_common_family"], full]


# --------------------------------------------------------------------------------------------- theme
def figsize(
    width: Literal["single", "double"] | float = "single", *, aspect: float = 0.72
) -> tuple[float, float]:
    """(width, height) in inches: ``"single"`` = 3.5 in, ``"double"`` = 7.2 in, or a number; height = width × aspect."""
    w = {"single": SINGLE_COLUMN, "double": DOUBLE_COLUMN}.get(width, width)  # type: ignore[arg-type]
    if not isinstance(w, int | float) or w <= 0 or aspect <= 0:
        raise ValueError(f"figsize: width {width!r} / aspect {aspect!r} must be 'single', 'double' or > 0")
    return (float(w), float(w) * aspect)


def set_theme(
    lang: Literal["zh", "en"] = "zh", *, context: Literal["paper", "notebook", "talk"] = "paper"
) -> None:
    """Apply the project's figure theme and register the CJK font.

    ``lang`` only sets the default language of :func:`label`; both languages use the same font chain
    (DejaVu Sans for Latin letters, digits and the minus sign; Noto Sans CJK SC for Chinese), so a
    figure's layout does not depend on the language. ``context`` scales the text: paper (8 pt),
    notebook (×1.25), talk (×1.6).
    """
    if lang not in _LABELS_LANGS:
        raise ValueError(f"lang must be one of {_LABELS_LANGS}, got {lang!r}")
    if context not in _CONTEXT_SCALE:
        raise ValueError(f"context must be one of {tuple(_CONTEXT_SCALE)}, got {context!r}")
    family = font_family()
    s = _BASE_SIZE * _CONTEXT_SCALE[context]
    mpl.rcParams.update(
        {
            "font.family": family,
            "font.sans-serif": [*family, *CJK_FAMILIES, "sans-serif"],
            "font.size": s,
            "axes.titlesize": s * 1.1,
            "axes.titlelocation": "left",
            "axes.titleweight": "normal",
            "axes.labelsize": s,
            "xtick.labelsize": s * 0.9,
            "ytick.labelsize": s * 0.9,
            "legend.fontsize": s * 0.9,
            "legend.title_fontsize": s * 0.9,
            "legend.frameon": False,
            "figure.titlesize": s * 1.2,
            "axes.unicode_minus": True,
            "mathtext.fontset": "dejavusans",
            "axes.prop_cycle": mpl.cycler(color=list(OKABE_ITO)),
            "image.cmap": "viridis",
            "axes.linewidth": 0.6,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.edgecolor": "#222222",
            "axes.labelcolor": "#222222",
            "axes.grid": False,
            "grid.linewidth": 0.4,
            "grid.color": "#dddddd",
            "xtick.major.width": 0.6,
            "ytick.major.width": 0.6,
            "xtick.minor.width": 0.4,
            "ytick.minor.width": 0.4,
            "xtick.major.size": 3.0,
            "ytick.major.size": 3.0,
            "xtick.color": "#222222",
            "ytick.color": "#222222",
            "lines.linewidth": 1.2,
            "lines.markersize": 4.0,
            "patch.linewidth": 0.6,
            "errorbar.capsize": 2.0,
            "figure.figsize": figsize("single"),
            "figure.dpi": 150,
            "savefig.dpi": 300,
            "savefig.bbox": "tight",
            "savefig.pad_inches": _PAD_INCHES,
            "pdf.fonttype": 42,
            "ps.fonttype": 42,
            "svg.fonttype": "none",
            "svg.hashsalt": "cnfp-analysis",
        }
    )
    _state["lang"] = lang


# -------------------------------------------------------------------------------------------- labels
_LABELS_LANGS = ("zh", "en")
_LABELS: dict[str, tuple[str, str]] = {
    # key: (zh, en)
    "srb": ("出生性别比（女=100）", "Sex ratio at birth (males per 100 females)"),
    "males_per_100_females": ("男性/100女性", "Males per 100 females"),
    "age0_sex_ratio": (
        "0岁人口性别比（女=100；出生性别比的代理指标）",
        "Sex ratio at age 0 (males per 100 females; proxy for SRB)",
    ),
    "year": ("年份", "Year"),
    "month": ("月份", "Month"),
    "date": ("日期", "Date"),
    "period": ("时期", "Period"),
    "births": ("出生人数", "Births"),
    "births_thousands": ("出生人数（千人）", "Births (thousands)"),
    "births_millions": ("出生人数（百万）", "Births (millions)"),
    "cbr": ("粗出生率（‰）", "Crude birth rate (per 1,000)"),
    "tfr": ("总和生育率（每名妇女生育子女数）", "Total fertility rate (children per woman)"),
    "population": ("人口", "Population"),
    "rate": ("比率（%）", "Rate (%)"),
    "coverage": ("服务覆盖率（%）", "Service coverage (%)"),
    "target": ("目标值", "Target"),
    "share": ("占比（%）", "Share (%)"),
    "nation": ("全国", "China"),
    "province": ("省份", "Province"),
    "prefecture": ("地市", "Prefecture"),
    "county": ("区县", "County"),
    "region": ("地区", "Region"),
    "birth_order": ("孩次", "Birth order"),
    "residence": ("居住地类型", "Place of residence"),
    "migrants_share": ("流动人口占常住人口比例（%）", "Migrants (% of resident population)"),
    "sample_size": ("样本量（出生人数）", "Sample size (births)"),
    "observed": ("观测值", "Observed"),
    "fitted": ("拟合值", "Fitted"),
    "counterfactual": ("反事实（无政策变化）", "Counterfactual (no policy change)"),
    "estimate": ("估计值", "Estimate"),
    "odds_ratio": ("比值比（OR）", "Odds ratio"),
    "difference": ("差值", "Difference"),
    "ci95": ("95%置信区间", "95% CI"),
    "limits95": ("95%控制限", "95% control limits"),
    "limits998": ("99.8%控制限", "99.8% control limits"),
    "control_limits": ("控制限", "control limits"),
    "pooled": ("合计", "Pooled"),
    "reference": ("参照值", "Reference"),
    "prior_mean": ("先验均值", "Prior mean"),
    "above_target": ("显著高于目标", "Significantly above target"),
    "below_target": ("显著低于目标", "Significantly below target"),
    "not_distinguishable": ("与目标无显著差异", "Not distinguishable from target"),
    "normal_srb": ("正常出生性别比范围（103–107）", "Normal SRB range (103–107)"),
    "selective_two_child_2014": ("单独二孩政策（2014）", "Selective two-child policy (2014)"),
    "universal_two_child_2016": ("全面二孩政策（2016）", "Universal two-child policy (2016)"),
    "three_child_2021": ("三孩政策（2021）", "Three-child policy (2021)"),
    "source": ("资料来源", "Source"),
}


def label_keys() -> list[str]:
    """The keys known to :func:`label`, sorted."""
    return sorted(_LABELS)


def _lang(lang: str | None) -> str:
    """``lang``, or the language of the last :func:`set_theme` when None; checked."""
    lang = _state["lang"] if lang is None else lang
    if lang not in _LABELS_LANGS:
        raise ValueError(f"lang must be one of {_LABELS_LANGS}, got {lang!r}")
    return lang


def label(key: str, lang: Literal["zh", "en"] | None = None) -> str:
    """Axis/legend label for ``key`` in ``lang`` (default: language of the last :func:`set_theme`, else "en").

    Raises KeyError listing the known keys for an unknown key.
    """
    lang = _lang(lang)
    try:
        zh, en = _LABELS[key]
    except KeyError:
        raise KeyError(f"unknown label key {key!r}; known keys: {', '.join(label_keys())}") from None
    return zh if lang == "zh" else en


_CLOSING = set("）」』》〉】〕，。、；：！？%)]},.;:!?")
_OPENING = set("（「『《〈【〔([{")


def _columns(text: str) -> int:
    """Display width of ``text``: a wide (Chinese, full-width) character counts two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


_GLUE = "\x00"  # stands for a space that must not break a line while wrap_label works


def _latin(char: str) -> bool:
    return not char.isspace() and _columns(char) == 1


def wrap_label(text: str, width: int = 40) -> str:
    """``text`` broken into lines of at most ``width`` columns, a Chinese or full-width character counting
    two (it is about twice as wide as a Latin letter). Latin text breaks at spaces, Chinese between
    characters but never before closing or after opening punctuation or a " ·" separator; "n = 205,990" stays
    on one line, a word longer than a line stays whole, and existing line breaks are kept."""
    if width < 2:
        raise ValueError(f"width must be at least 2 columns, got {width}")
    out = []
    for part in text.split("\n"):
        tokens: list[str] = []
        for char in part.replace(" = ", _GLUE + "=" + _GLUE).replace(" ·", _GLUE + "·"):
            if tokens and not char.isspace() and (
                char in _CLOSING or tokens[-1][-1] in _OPENING or (_latin(char) and _latin(tokens[-1][-1]))
            ):
                tokens[-1] += char  # a Latin word grows; punctuation sticks to what it opens or closes
            else:
                tokens.append(char)
        lines, line = [], ""
        for tok in tokens:
            if line.strip() and not tok.isspace() and _columns(line + tok) > width:
                lines.append(line.rstrip())
                line = tok
            elif line or not tok.isspace():
                line += tok
        lines.append(line.rstrip())
        out.append("\n".join(lines).replace(_GLUE, " "))
    return "\n".join(out)


def ci_label(
    alpha: float,
    lang: Literal["zh", "en"] | None = None,
    *,
    kind: Literal["confidence", "credible"] = "confidence",
    of: str | None = None,
) -> str:
    """Legend label of a (1 − ``alpha``) interval: "95%置信区间" / "95% CI", or with ``kind="credible"`` (a
    posterior interval) "95%可信区间" / "95% credible interval". With ``of`` (what the marker is), both:
    "估计值（95%置信区间）" / "Estimate, 95% CI" — the label of a point with its error bars."""
    if kind not in ("confidence", "credible"):
        raise ValueError(f"ci_label: kind must be 'confidence' or 'credible', got {kind!r}")
    level = f"{100 * (1 - alpha):g}%"
    if _lang(lang) == "zh":
        text = level + ("置信区间" if kind == "confidence" else "可信区间")
        return f"{of}（{text}）" if of else text
    text = level + (" CI" if kind == "confidence" else " credible interval")
    return f"{of}, {text}" if of else text


# -------------------------------------------------------------------------------------------- saving
def save_figure(
    fig: Figure,
    path: str | os.PathLike[str],
    *,
    formats: Sequence[str] = ("png", "pdf"),
    dpi: int = 300,
    bbox_inches: Literal["tight"] | None = "tight",
    show: bool = False,
) -> list[Path]:
    """Write ``fig`` as ``path``.png and .pdf (``formats``: any of png, pdf, svg) and return the paths written.

    ``path`` may carry one of these suffixes or none. PNG at ``dpi`` (≥ 200); PDF with TrueType
    (Type 42) fonts and SVG with text kept as text, so labels stay editable. ``bbox_inches="tight"``
    crops to the drawn content plus a 0.03 in margin. Bytes are identical for the same figure (no
    creation dates or software stamps; fixed SVG hash salt). Each file is written to a temporary name
    in the target folder and renamed.

    ``show`` — also display the figure in Jupyter from the PNG just rendered (scaled to the figure's
    own dpi) and close it, so that the notebook does not draw it once more (≈ 0.1 s a figure).
    """
    if dpi < 200:
        raise ValueError(f"dpi must be at least 200 for publication PNGs, got {dpi}")
    unknown = [f for f in formats if f not in {"png", "pdf", "svg"}]
    if unknown or not formats:
        raise ValueError(
            f"formats must be a non-empty subset of ('png', 'pdf', 'svg'), got {tuple(formats)!r}"
        )
    if show and "png" not in formats:
        raise ValueError(f"show=True displays the PNG, but formats are {tuple(formats)!r}")
    base = Path(path)
    if base.suffix.lower() in FIGURE_SUFFIXES:
        base = base.with_suffix("")
    metadata = {
        "png": {"Software": None},
        "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None},
        "svg": {"Date": None, "Creator": None},
    }
    written = []
    rc = {
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
        "svg.fonttype": "none",
        "svg.hashsalt": "cnfp-analysis",
        "savefig.bbox": "standard",  # bbox_inches=None: keep the figure size exactly
    }
    with mpl.rc_context(rc):
        bbox: Any = bbox_inches
        pixels = None
        engine = fig.get_layout_engine()  # after fig.tight_layout(): a placeholder that does nothing
        if bbox_inches == "tight" and (engine is None or isinstance(engine, PlaceHolderLayoutEngine)):
            # one drawing gives the PNG and the tight box of every format (savefig would lay the
            # figure out again for each format, and draw it twice for the PNG)
            pixels, bbox = _draw_tight(fig, dpi)
        for fmt in formats:
            target = base.parent / f"{base.name}.{fmt}"
            with atomic_path(target) as tmp:
                if fmt == "png" and pixels is not None:
                    tmp.write_bytes(png_bytes(pixels, dpi=dpi))  # records dpi, no software or date
                else:
                    fig.savefig(
                        tmp, format=fmt, dpi=dpi, metadata=metadata[fmt], bbox_inches=bbox, pad_inches=_PAD_INCHES
                    )
            written.append(target)
    if show:
        _show(fig, pixels if pixels is not None else base.parent / f"{base.name}.png", dpi)
    return written


def _draw_tight(fig: Figure, dpi: float) -> tuple[np.ndarray | None, Any]:
    """Draw ``fig`` once with Agg at ``dpi``; return (its pixels cropped to the padded tight bounding
    box, that box in inches). The pixels are None when the box reaches outside the figure: then only
    savefig, which enlarges the canvas, can draw it."""
    from matplotlib.backends.backend_agg import RendererAgg

    original = fig.dpi
    try:
        fig.dpi = dpi
        renderer = RendererAgg(fig.bbox.width, fig.bbox.height, dpi)
        fig.draw(renderer)
        bbox = fig.get_tightbbox(renderer).padded(_PAD_INCHES)
    finally:
        fig.dpi = original
    x0, y0, x1, y1 = bbox.extents * dpi
    width, height = int(renderer.width), int(renderer.height)
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        return None, bbox
    rgba = np.asarray(renderer.buffer_rgba())
    crop = rgba[height - int(np.ceil(y1)) : height - int(np.floor(y0)), int(np.floor(x0)) : int(np.ceil(x1))]
    opaque = bool((crop[..., 3] == 255).all())
    return (crop[..., :3] if opaque else crop).copy(), bbox  # RGB when opaque: smaller, faster PNGs


def png_bytes(pixels: np.ndarray, *, dpi: float | None = None, level: int = 6) -> bytes:
    """Encode 8-bit RGB or RGBA ``pixels`` (height × width × 3|4) as PNG (ISO/IEC 15948, the W3C PNG specification):
    IHDR, pHYs (``dpi`` as pixels per metre) if given, one zlib IDAT at ``level``, IEND.

    Every row uses filter type 0 (None). Pillow offers no filter choice and always tries all five
    filters per row (libpng's heuristic); for figures — large flat areas, few colours — that costs
    ≈ 40 ms of a ≈ 60 ms encode at 300 dpi and gives *larger* files than no filter, because zlib
    finds the repeats of unfiltered rows itself (notebook 01's figures: 56 vs 67 KB, 114 vs 143 KB)."""
    import struct
    import zlib

    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise ValueError(f"pixels must be uint8 of shape (h, w, 3|4), got {pixels.dtype} {pixels.shape}")
    height, width, channels = pixels.shape
    raw = np.zeros((height, width * channels + 1), dtype=np.uint8)  # column 0: each row's filter type (0)
    raw[:, 1:] = pixels.reshape(height, width * channels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    colour_type = 2 if channels == 3 else 6  # truecolour, truecolour with alpha
    out = [b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0))]
    if dpi is not None:
        ppm = round(dpi / 0.0254)  # pixels per metre, as Pillow writes it
        out.append(chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1)))
    out += [chunk(b"IDAT", zlib.compress(raw.tobytes(), level)), chunk(b"IEND", b"")]
    return b"".join(out)


def _show(fig: Figure, png: np.ndarray | Path, dpi: float) -> None:
    """Display the PNG pixels (or file) at ``fig``'s own dpi in Jupyter and close ``fig``."""
    import matplotlib.pyplot as plt
    from IPython.display import Image as IPyImage
    from IPython.display import display
    from PIL import Image

    if isinstance(png, np.ndarray):
        img = Image.fromarray(png)
    else:
        with Image.open(png) as file:
            img = file.convert("RGBA" if "A" in file.mode else "RGB")
    factor = dpi / fig.dpi
    if factor > 1:
        size = (round(img.width / factor), round(img.height / factor))
        img = img.reduce(int(factor)) if factor.is_integer() else img.resize(size, Image.Resampling.LANCZOS)
    display(IPyImage(data=png_bytes(np.asarray(img)), format="png"))
    plt.close(fig)


# ------------------------------------------------------------------------------------------- helpers
_LABEL_BOX = {"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.5}  # keeps labels legible


def _as_arrays(*values: Any) -> list[np.ndarray]:
    arrays = [np.asarray(v, dtype=float) for v in values]
    if len({a.shape for a in arrays}) != 1:
        raise ValueError(
            f"est, lower and upper must have the same length, got shapes {[a.shape for a in arrays]}"
        )
    return arrays


def _check_interval(est: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
    slack = 1e-9 * np.maximum(1.0, np.abs(est))  # rounding in the estimators, not a wrong interval
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero((lower - est > slack) | (est - upper > slack))
    if bad.size:
        raise ValueError(f"need lower <= est <= upper; violated at positions {bad[:10].tolist()}")


#: The look of every point-and-interval plot of the toolkit (keyword arguments override it).
CI_STYLE: dict[str, Any] = {"ms": 4, "capsize": 2, "lw": 1}


def ci_errorbar(
    ax: Axes,
    x: Any,
    est: Any,
    lower: Any,
    upper: Any,
    *,
    label: str | None = None,
    color: str | None = None,
    marker: str = "o",
    orient: Literal["v", "h"] = "v",
    **kwargs: Any,
) -> Axes:
    """Point estimates with confidence-interval whiskers (``lower``/``upper`` are interval bounds, not widths),
    drawn in :data:`CI_STYLE`. ``orient="h"``: one row per unit, ``x`` are the rows' positions on the y axis and
    the estimates run along the x axis (forest and caterpillar plots)."""
    e, lo, hi = _as_arrays(est, lower, upper)
    _check_interval(e, lo, hi)
    err = np.vstack([np.maximum(e - lo, 0), np.maximum(hi - e, 0)])
    style = {**CI_STYLE, **kwargs}
    if orient == "h":
        ax.errorbar(e, x, xerr=err, fmt=marker, color=color, label=label, **style)
    else:
        ax.errorbar(x, e, yerr=err, fmt=marker, color=color, label=label, **style)
    return ax


def ci_band(
    ax: Axes,
    x: Any,
    est: Any,
    lower: Any,
    upper: Any,
    *,
    label: str | None = None,
    band_label: str | None = None,
    color: str | None = None,
    alpha: float = 0.2,
    **kwargs: Any,
) -> Axes:
    """A line for the estimate with a shaded confidence band between ``lower`` and ``upper``."""
    e, lo, hi = _as_arrays(est, lower, upper)
    _check_interval(e, lo, hi)
    (line,) = ax.plot(x, e, color=color, label=label, **kwargs)
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=alpha, linewidth=0, label=band_label)
    return ax


class PlainLogFormatter(ticker.LogFormatter):
    """Log-axis tick labels as plain numbers (1,000 · 10,000 · 0.9) rather than matplotlib's default
    10³ in mathtext: easier to read for counts, and no mathtext parsing (≈ 15 ms per distinct label in
    a fresh process)."""

    def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
        return f"{x:,.0f}" if x >= 1 and x == round(x) else f"{x:g}"


def log_axis(ax: Axes, which: Literal["x", "y"] = "x") -> Axes:
    """Put ``ax``'s ``which`` axis on a log scale labelled by :class:`PlainLogFormatter` (minor ticks are
    labelled, as matplotlib does, only when the axis spans less than about one decade)."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_formatter(PlainLogFormatter())
    axis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False))
    return ax


def add_reference_line(
    ax: Axes, y: float, label: str | None = None, *, color: str = "0.4", linestyle: str = "--", **kwargs: Any
) -> Axes:
    """Horizontal reference line at ``y`` (e.g. SRB 105 or a target), labelled at its right end."""
    ax.axhline(y, color=color, linestyle=linestyle, linewidth=0.8, zorder=1, **kwargs)
    if label:
        ax.annotate(
            label,
            xy=(1.0, y),
            xycoords=ax.get_yaxis_transform(),
            xytext=(-2, 2),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=mpl.rcParams["xtick.labelsize"],
            color=color,
            bbox=_LABEL_BOX,
        )
    return ax


#: Most iterations of adjustText in :func:`label_points` (it stops earlier once nothing overlaps): a count rather
#: than its default time limit (1 s), so that the same data always give the same figure, whatever the machine's
#: load; ≈ 0.2 s when a label cannot get clear of every point. Labels push each other six times harder than the
#: points push them (adjustText's defaults: equally): labels over labels are unreadable, a label over a dot is not.
REPEL_ITERATIONS = 300
_REPEL_FORCES = {"force_text": (0.3, 0.6), "force_static": (0.05, 0.1)}


def label_points(
    ax: Axes, x: Any, y: Any, labels: Iterable[Any], *, avoid: Any = None, fontsize: float | None = None,
    color: str = "0.15",
) -> list[Text]:
    """Name the points (``x``, ``y`` in data coordinates) with labels kept apart from each other and, as far as
    they can be, from the points: each label starts at its point and adjustText (I. Flyamer,
    https://github.com/Phlya/adjustText; the approach of R's ggrepel) pushes the labels apart inside the axes, with
    a thin leader line to a label that moved away from its point. ``avoid``: more artists to keep clear of (e.g.
    the scatter of every unit: each of its points); the axes' legend and its lines (reference lines, control
    limits: followed along their length) are always avoided.
    Call it last, when the axes' scales and limits are final. Returns the texts, in the order of ``labels``."""
    xs, ys = (np.asarray(v, dtype=float).reshape(-1) for v in (x, y))
    names = [str(v) for v in labels]
    if not xs.size == ys.size == len(names):
        raise ValueError(f"label_points: {xs.size} x, {ys.size} y and {len(names)} labels")
    size = fontsize if fontsize is not None else mpl.rcParams["xtick.labelsize"]
    texts = [ax.text(xi, yi, name, fontsize=size, color=color) for xi, yi, name in zip(xs, ys, names, strict=True)]
    if texts:
        near = ax.transData.transform(np.column_stack([xs, ys]))
        adjust_text(texts, ax=ax, objects=_obstacles(ax, avoid, near), iter_lim=REPEL_ITERATIONS, time_lim=None,
                    **_REPEL_FORCES,
                    arrowprops={"arrowstyle": "-", "color": "0.45", "lw": 0.5})  # fmt: skip
    return texts


#: How far (display pixels) from a labelled point the lines are obstacles: labels move less than this.
_LINE_REACH = 100.0


def _obstacles(ax: Axes, avoid: Any, near: np.ndarray) -> list | None:
    """What labels must keep clear of, as boxes in data coordinates (the form adjustText takes for a mix of
    artists): each point of a scatter, small boxes along every line of the axes within :data:`_LINE_REACH` of a
    labelled point (``near``, display coordinates; farther boxes only cost time), the window extent of any other
    artist, and the axes' legend."""
    artists = [] if avoid is None else list(avoid) if isinstance(avoid, list | tuple) else [avoid]
    artists += [line for line in ax.lines if line.get_visible() and line not in artists]
    if ax.get_legend() is not None:
        artists.append(ax.get_legend())
    if not artists:
        return None
    renderer = ax.figure.canvas.get_renderer()
    to_data = ax.transData.inverted()
    boxes = []
    for artist in artists:
        if isinstance(artist, PathCollection):
            boxes.extend(get_bboxes_pathcollection(artist, ax))
        elif isinstance(artist, Line2D):
            pts = _line_points(artist, ax)
            close = np.hypot(*(pts[:, None, :] - near[None, :, :]).transpose(2, 0, 1)).min(axis=1) < _LINE_REACH
            boxes.extend(Bbox.from_bounds(px - 3, py - 3, 6, 6).transformed(to_data) for px, py in pts[close])
        else:
            boxes.append(artist.get_window_extent(renderer).transformed(to_data))
    return boxes


def _line_points(line: Line2D, ax: Axes) -> np.ndarray:
    """Points every 12 display pixels along ``line`` inside the axes (display coordinates): a line is an obstacle
    along its length (6-px boxes at these points leave no gap a label fits through), not as the box around all of
    it."""
    xy = _along(line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float)))[::6]
    xy = xy[np.isfinite(xy).all(axis=1)]
    frame = ax.get_window_extent()
    inside = (xy[:, 0] >= frame.x0) & (xy[:, 0] <= frame.x1) & (xy[:, 1] >= frame.y0) & (xy[:, 1] <= frame.y1)
    return xy[inside]


def legend_on_top(ax: Axes, *, fontsize: float = 8, margin: float = 0.04, outside: bool = False) -> Any:
    """The legend in one row along the top inside ``ax`` (two rows, or one column, if a row is wider than the
    axes), with the y-axis raised so that everything drawn stays below it; call it after plotting. With
    ``outside`` it sits just above the axes instead and the axis is left alone (for plots whose y-range
    deliberately leaves out extreme points, which raising it would bring back under the legend). Returns the
    Legend (None without entries). Without a renderer to measure the legend, it only places it."""
    handles, texts = ax.get_legend_handles_labels()
    if not handles:
        return None
    y0, y1 = ax.get_ylim()
    canvas = ax.figure.canvas
    legend = None
    for ncol in dict.fromkeys((len(handles), -(-len(handles) // 2), 1)):
        where = {"loc": "lower center", "bbox_to_anchor": (0.5, 1.0)} if outside else {"loc": "upper center"}
        legend = ax.legend(handles, texts, ncol=ncol, frameon=False, fontsize=fontsize, borderaxespad=0.2,
                           columnspacing=1.2, handlelength=1.6, **where)
        if not hasattr(canvas, "get_renderer"):
            return legend
        box, frame = legend.get_window_extent(canvas.get_renderer()), ax.get_window_extent(canvas.get_renderer())
        if box.width <= frame.width:
            break
    share = box.height / frame.height + margin  # of the axes' height, taken by the legend
    if not outside and share < 0.6:  # otherwise the data would be squashed: leave the axis as it is
        ax.set_ylim(y0, y0 + (y1 - y0) / (1 - share))
    return legend


def _decimal_year(value: Any) -> float:
    ts = _to_timestamp(value)
    if ts is None:
        return float(value)
    start = _dt.datetime(ts.year, 1, 1)
    length = (_dt.datetime(ts.year + 1, 1, 1) - start).total_seconds()
    return ts.year + (ts.to_pydatetime().replace(tzinfo=None) - start).total_seconds() / length


def _to_timestamp(value: Any):
    import pandas as pd

    if isinstance(value, str | _dt.date | np.datetime64 | pd.Timestamp):
        return pd.Timestamp(value)
    return None


def policy_lines(
    ax: Axes,
    dates: Iterable[Any],
    labels: Iterable[str] | None = None,
    *,
    color: str = "0.35",
    linestyle: str = ":",
    side: Literal["right", "left", "auto"] = "right",
    where: Literal["top", "bottom", "auto"] = "auto",
    **kwargs: Any,
) -> Axes:
    """Vertical lines at policy dates, each labelled along the line on its ``side``, at the top or bottom of
    the axes: ``where="auto"`` takes the end where the label covers fewer of the points and lines already
    drawn (the top on a tie), so call it after plotting the data; ``side="auto"`` chooses the side the same way
    (the right on a tie). A position that overlaps an earlier label of the same call is taken only when every
    other one does too. Labels start with a capital (figure text is
    in sentence case: "universal two-child 2016" is drawn "Universal two-child 2016") and sit under the data
    with no box, so that a confidence band stays visible through them; a label longer than 60% of the axes'
    height is wrapped, after a comma where it can.

    ``dates`` may be dates (``"2016-01-01"``, datetime, Timestamp) or numbers. On a date axis dates
    are drawn as dates; on a numeric (year) axis they become decimal years (2016-01-01 → 2016.0).
    """
    if side not in ("right", "left", "auto"):
        raise ValueError(f"policy_lines: side must be 'right', 'left' or 'auto', got {side!r}")
    if where not in ("top", "bottom", "auto"):
        raise ValueError(f"policy_lines: where must be 'top', 'bottom' or 'auto', got {where!r}")
    import matplotlib.dates as mdates

    dates = list(dates)
    texts = list(labels) if labels is not None else [None] * len(dates)
    if len(texts) != len(dates):
        raise ValueError(f"policy_lines: {len(dates)} dates but {len(texts)} labels")
    converter = ax.xaxis.get_converter()
    date_axis = converter is not None and type(converter).__module__ == mdates.__name__
    drawn = _drawn_points(ax) if "auto" in (where, side) and any(texts) else None
    placed: list[Text] = []
    for value, text in zip(dates, texts, strict=True):
        ts = _to_timestamp(value)
        x = (mdates.date2num(ts) if date_axis else _decimal_year(value)) if ts is not None else float(value)
        ax.axvline(x, color=color, linestyle=linestyle, linewidth=0.8, zorder=1, **kwargs)
        if not text:
            continue
        text = text[:1].upper() + text[1:]
        candidates = []
        for this_side in ("right", "left") if side == "auto" else (side,):
            for end in ("top", "bottom") if where == "auto" else (where,):
                top = end == "top"
                candidates.append(ax.annotate(
                    _wrapped(ax, text),
                    xy=(x, 1.0 if top else 0.0),
                    xycoords=ax.get_xaxis_transform(),
                    xytext=(2 if this_side == "right" else -2, -2 if top else 2),
                    textcoords="offset points",
                    rotation=90,
                    ha="left" if this_side == "right" else "right",
                    va="top" if top else "bottom",
                    fontsize=mpl.rcParams["xtick.labelsize"],
                    color=color,
                    zorder=1.5,  # above its line and a band, below the data: a label never hides a point
                ))
        if len(candidates) > 1:
            renderer = ax.figure.canvas.get_renderer()
            boxes = [t.get_window_extent(renderer) for t in placed]
            cost = [(any(c.get_window_extent(renderer).overlaps(b) for b in boxes), _count_inside(drawn, c))
                    for c in candidates]
            best = min(range(len(candidates)), key=lambda i: cost[i])  # the first of the cheapest on a tie
            for i, c in enumerate(candidates):
                if i != best:
                    c.remove()
            candidates = [candidates[best]]
        placed.extend(candidates)
    return ax


def _wrapped(ax: Axes, text: str, share: float = 0.6) -> str:
    """``text`` wrapped into lines no longer than ``share`` of the axes' height, drawn at the tick-label size: after
    a comma where it can, else at spaces (Chinese without either stays on one line)."""
    renderer = ax.figure.canvas.get_renderer()
    probe = ax.text(0, 0, text, fontsize=mpl.rcParams["xtick.labelsize"])
    length = probe.get_window_extent(renderer).width  # pixels, as the label will be drawn (rotated: its height)
    probe.remove()
    height = ax.get_window_extent(renderer).height
    if length <= share * height:
        return text
    width = max(8, int(len(text) * share * height / length))  # characters per line
    lines: list[str] = []
    for piece in re.split(r"(?<=[,，])\s*", text):  # clauses first: "…，2015 年起" keeps "2015 年起" whole
        if lines and len(lines[-1]) + 1 + len(piece) <= width:
            lines[-1] += ("" if lines[-1].endswith("，") else " ") + piece
        else:
            lines.extend(textwrap.wrap(piece, width, break_long_words=False, break_on_hyphens=False) or [piece])
    return "\n".join(lines)


def _drawn_points(ax: Axes) -> np.ndarray | None:
    """Display coordinates (N × 2) of what ``ax`` shows so far: markers, and points every 2 px along drawn
    lines and the outlines of bands, error bars and bars; None without a renderer to measure labels with."""
    if not hasattr(ax.figure.canvas, "get_renderer"):
        return None
    ax.get_xlim(), ax.get_ylim()  # settle autoscaling before transforming
    parts = [np.empty((0, 2))]
    for line in ax.lines:
        xy = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))
        parts.append(_along(xy) if line.get_linestyle() not in ("None", "", " ") else xy)
    for coll in ax.collections:
        if isinstance(coll, PathCollection):  # scatter: one marker per offset
            parts.append(coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), dtype=float)))
        else:  # the outlines of bands, error bars: paths in data coordinates
            parts.extend(_along(coll.get_transform().transform(path.vertices)) for path in coll.get_paths())
    for patch in ax.patches:
        parts.append(_along(patch.get_transform().transform(patch.get_path().vertices)))
    xy = np.concatenate(parts)
    return xy[np.isfinite(xy).all(axis=1)]


def _along(xy: np.ndarray) -> np.ndarray:
    """The polyline ``xy`` (display coordinates) with a point every 2 px; a gap (NaN) gets one point."""
    if len(xy) < 2:
        return xy
    steps = np.maximum(1, np.nan_to_num(np.hypot(*np.diff(xy, axis=0).T)) // 2).astype(int)
    seg = np.repeat(np.arange(len(steps)), steps)
    frac = (np.arange(steps.sum()) - np.repeat(np.cumsum(steps) - steps, steps)) / steps[seg]
    return np.concatenate([xy[seg] + frac[:, None] * (xy[seg + 1] - xy[seg]), xy[-1:]])


def _count_inside(points: np.ndarray | None, text: Text) -> int:
    """How many ``points`` (display coordinates) lie under ``text``'s box."""
    if points is None or not len(points):
        return 0
    box = text.get_window_extent(text.figure.canvas.get_renderer())
    inside = (points[:, 0] >= box.x0) & (points[:, 0] <= box.x1) & (points[:, 1] >= box.y0) & (points[:, 1] <= box.y1)
    return int(inside.sum())
