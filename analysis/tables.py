"""Tables as a notebook shows them, in the notebook's language: ``show = tables.show_in(lang)``.

``show(result)`` displays a result object with its title, its method and its table; ``show(frame, (en, zh))``
displays a DataFrame under a caption. In Chinese the column headers carry a Chinese label above the column's
name (the name the CSV export uses, so a reader can find the column there) and known category values
("rate ratio", "selective_2014", "census 2020 (age-0 proxy)") are shown in Chinese; the numbers and the exported
files are the same in both languages. Every shown table records the columns that lack a Chinese label
(``data-untranslated``), so tests can require that none do.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

from analysis.exceptions import ModelSpecificationError
from analysis.narrative import check_lang
from analysis.results import Result, _number

if TYPE_CHECKING:
    import pandas as pd

#: Chinese labels of the columns the notebooks show, by column name.
COLUMNS_ZH: dict[str, str] = {
    # shared
    "year": "年份", "label": "分组", "region": "地区", "region_code": "地区代码", "name_zh": "名称", "level": "层级",
    "estimate": "估计值", "se": "标准误", "lower": "下限", "upper": "上限", "p_value": "p 值",
    "p_adjusted": "校正后 p 值", "term": "项", "scale": "尺度", "ratio": "比值", "value": "数值", "unit": "单位",
    "source": "来源", "period": "时期", "start": "起", "end": "止", "rank": "位次", "test": "检验",
    # missing female births, birth-order shares
    "males": "男婴", "females": "女婴", "expected_females": "预期女婴", "missing": "女婴缺失数",
    "missing_percent_of_expected": "缺失占预期（%）", "reference_srb_per_1": "参照出生性别比（女=1）",
    "births": "出生数", "all_births": "全部出生数", "share": "占比",
    # interrupted time series, excess births, placebo, vintages
    "interruption": "中断点", "first_affected": "首个受影响期", "periods": "期数", "observed": "观测值",
    "counterfactual": "反事实值", "excess": "额外出生数", "excess_pct": "额外出生（%）",
    "without": "反事实中去掉的中断点", "counterfactual_model": "反事实模型", "vintage": "数据版本",
    "area": "地区", "quantity": "数量", "value_million": "数值（百万）", "survey": "调查",
    # event study and robustness
    "event_time": "事件时间（年）", "boot_p_value": "自助法 p 值", "boot_lower": "自助法下限",
    "boot_upper": "自助法上限", "boot_reps": "自助法次数", "binned": "端点合并", "n_obs": "观测数",
    "n_clusters": "聚类数", "F": "F 值", "df1": "分子自由度", "df2": "分母自由度", "check": "检验方案",
    # migrants
    "role": "角色", "census": "普查", "population": "常住人口", "migrants": "人户分离人口",
    "same_county": "县内", "other_county": "省内跨县", "other_province": "跨省",
    "share_same_county": "县内占比", "share_other_county": "省内跨县占比", "share_other_province": "跨省占比",
    "other_province_of_migrants": "跨省占人户分离比", "change_pp_since_2010": "较 2010 年变化（百分点）",
    "share_2010": "2010 年占比", "share_2020": "2020 年占比", "change_pp": "变化（百分点）",
    "share_other_province_2020": "2020 年跨省占比",
    # coverage
    "rate_label": "比率说明", "indicator_en": "指标（英文）", "served_reconstructed": "服务人数系推算",
    "eligible": "应服务人数", "eligible_effective": "有效样本量", "served": "已服务人数", "rate": "比率",
    "target": "目标值", "gap_pp": "与目标差距（百分点）", "gap_lower_pp": "差距下限（百分点）",
    "gap_upper_pp": "差距上限（百分点）", "verdict": "结论", "citation": "文献", "bound": "报告形式",
    "rate_pct": "比率（%）", "target_pct": "目标（%）", "min_eligible": "所需最少应服务人数",
    "statement": "说明", "scope": "范围", "statistic": "统计量", "df": "自由度", "service": "服务项目",
    # report indicators
    "indicator_key": "指标", "indicator": "指标", "approx": "约数", "target_value": "目标值",
    "margin_pp": "差幅（百分点）", "quote": "原文", "flags": "标记", "implied_margin": "推算差幅",
    "tolerance": "容差", "status": "核对结果",
}

#: Columns of whole numbers that are labels, not amounts: shown without a thousands separator (2010, not 2,010).
_WHOLE = frozenset({"year", "census", "start", "end", "first_affected", "event_time", "rank", "periods", "df",
                    "df1", "df2", "boot_reps", "n_clusters"})

#: Columns of p-values: shown as "<0.001" below 0.001, else to three decimals.
_P_VALUES = frozenset({"p_value", "p_adjusted", "boot_p_value"})

#: Chinese forms of category values, by exact value.
VALUES_ZH: dict[str, str] = {
    "nation": "全国", "province": "省级", "prefecture": "地级", "county": "县级",
    "region": "本地区", "parent": "上级地区",
    "level": "水平变化", "slope": "斜率变化", "rate ratio": "率比", "difference": "差值",
    "intensity × post": "强度 × 政策后",
    "intercept (sex ratio at 0 % migrants)": "截距（人户分离比重为 0 时的性别比）",
    "per 10 pp migrant share (ratio of sex ratios)": "人户分离比重每增加 10 个百分点（性别比之比）",
    "A: without universal": "A：无全面两孩政策", "B: without both policies": "B：两项政策都没有",
    "all interruptions": "全部中断点", "original": "原始发布", "revised": "普查后修订",
    "Hong Kong SAR": "香港特别行政区", "Macao SAR": "澳门特别行政区",
    "baseline": "基准", "population-weighted": "按人口加权",
    "leave-one-out min": "逐一剔除省份：最小值", "leave-one-out max": "逐一剔除省份：最大值",
    "joint pre-period coefficients = 0 (Wald F, cluster-robust)": "政策前系数全为 0 的联合检验（聚类稳健 Wald F）",
    "no pre-period coefficients in the window": "窗口内没有政策前系数",
    "above": "高于目标", "below": "低于目标", "not distinguishable": "与目标无法区分",
    "ok": "相符", "mismatch": "不符", "incomplete": "无法核对", "within ceiling": "未超上限",
    "above ceiling": "超过上限",
    "encoding_damage": "附近有编码损坏", "margin_mismatch": "差幅不符", "permille_printed_as_pct": "千分率印作百分号",
    "pct": "%", "permille": "‰", "persons": "人", "per_100k": "每 10 万", "ratio_per_100_females": "女=100",
    "children_per_woman": "每名妇女生育子女数", "couples": "对", "households": "户", "cases": "例",
    "person_times": "人次", "cny": "元", "certificates; couples": "证；对",
    "NBS births 2015 (published)": "国家统计局 2015 年出生人数（已发表）",
    "NBS births 2016 (published)": "国家统计局 2016 年出生人数（已发表）",
    "2016 minus 2015 (computed from NBS)": "2016 年减 2015 年（据国家统计局数据计算）",
    "Extra births Jul 2016–Dec 2017 (published)": "2016 年 7 月至 2017 年 12 月额外出生（已发表）",
    "computed": "计算", "computed here": "本文计算",
    "Pearson chi-square, units homogeneous": "Pearson 卡方检验：各单位同质", "F (quasi-binomial)": "F 检验（拟二项）",
    "likelihood ratio (binomial GLM)": "似然比检验（二项广义线性模型）", "all periods": "全部时期", "unit": "单位",
    ">=": "≥（不低于）", "<=": "≤（不高于）",
    "1‰ population change survey": "1‰ 人口变动抽样调查", "1% population sample survey": "1% 人口抽样调查",
}

#: The bundled sources whose citation carries an English provenance note, as a Chinese reader gets them (titles of
#: English articles stay as published).
CITATIONS_ZH = {
    "article abstract (journal not identified on the stored page): 全国流动人口孕产妇住院分娩现状及影响因素, 2012 国家流动人口动态监测数据":
        "论文摘要（存档页面未注明期刊）：全国流动人口孕产妇住院分娩现状及影响因素，2012 年国家流动人口动态监测数据",
    "《2011年全国人口和计划生育事业发展公报》 (National Population and Family Planning Commission), as reported by 经济日报/中国政府网 2012-07-11":
        "《2011年全国人口和计划生育事业发展公报》（国家人口和计划生育委员会），据经济日报/中国政府网 2012-07-11 报道",
    "《“十三五”全国流动人口卫生计生服务管理规划》 (NHFPC, Feb 2017), as reported by 中新社 2017-02-14":
        "《“十三五”全国流动人口卫生计生服务管理规划》（国家卫生计生委，2017 年 2 月），据中新社 2017-02-14 报道",
    "NHFPC statistical bulletin for 2015, as reported by AméricaEconomía (EFE/Xinhua)":
        "国家卫生计生委 2015 年统计公报，据 AméricaEconomía（埃菲社/新华社）报道",
    "NHFPC (report on migrant population, 2014), as reported by 健客网 2014-07-06 '国家卫计委:流动适龄儿童疫苗接种率达九成'":
        "国家卫生计生委（2014 年流动人口报告），据健客网 2014-07-06《国家卫计委:流动适龄儿童疫苗接种率达九成》报道",
    "Statement by Wang Qian (NHFPC migrant dept.), as abstracted on soulun.net":
        "Wang Qian（国家卫生计生委流动人口司）的讲话，据 soulun.net 摘录",
    "海口年鉴 (2019 edition, entry on 2018 migrant family-planning work), stored page":
        "《海口年鉴》（2019 年版，2018 年流动人口计划生育工作条目），存档页面",
    "Qinghai study on floating-population development (provincial health & FP commission), machine-translated copy of a news report":
        "青海省流动人口发展研究（省卫生计生委），新闻报道的机器翻译稿",
}

#: Category values with a number or a name in them: (pattern, Chinese with \\1 … for the groups).
_PATTERNS_ZH: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), zh) for p, zh in (
    (r"^selective_(\d{4})$", r"单独两孩 \1"),
    (r"^universal_(\d{4})$", r"全面两孩 \1"),
    (r"^three_child_(\d{4})$", r"三孩 \1"),
    (r"^mainland (\S+) \+ (\d+) months$", r"内地{\1} + \2 个月"),
    (r"^census (\d{4}) \(age-0 proxy\)$", r"\1 年普查（0 岁人口性别比，代理指标）"),
    (r"^census (\d{4})$", r"\1 年普查"),
    (r"^report: (.*)$", r"报告：\1"),
    (r"^placebo (\d{4})$", r"安慰剂 \1 年"),
    (r"^end (\d{4})$", r"截至 \1 年"),
    (r"^common year (\d{4}) \(universal\)$", r"统一政策年 \1（全面两孩）"),
    (r"^without (.+)$", r"剔除{\1}"),
    (r"^(\d{4}) / all$", r"\1 / 全部"),
    (r"^period (.+)$", r"时期 \1"),
    (r"^Excess births (\d{4})–(\d{4}), this ITS \((.+)\)$", r"\1–\2 年额外出生，本文中断时间序列（{\3}）"),
    (r"^NBS Statistical Communiqué \((.+)\)$", r"国家统计局统计公报（\1）"),
))


def value_zh(value: str) -> str:
    """The Chinese form of one category value; a value with no known form (a name, a quote) is returned as it is.

    Indicator keys get the vocabulary's first wording; ``;``-joined flags are translated one by one."""
    if value in VALUES_ZH:
        return VALUES_ZH[value]
    if value in CITATIONS_ZH:
        return CITATIONS_ZH[value]
    if value in _indicator_names():
        return _indicator_names()[value]
    for pattern, zh in _PATTERNS_ZH:
        m = pattern.match(value)
        if m:
            # {\k} marks a group that is itself a category value ("without universal_2016")
            text = m.expand(zh)
            return re.sub(r"\{([^{}]*)\}", lambda g: value_zh(g.group(1)), text)
    if ";" in value:
        parts = value.split(";")
        if all(p in VALUES_ZH for p in parts):
            return "；".join(VALUES_ZH[p] for p in parts)
    return value


@cache
def _indicator_names() -> dict[str, str]:
    """indicator_key → its first wording without a context condition, else its first wording followed by its
    first context word (已生育{两孩|二孩} → 已生育两孩)."""
    from analysis.extract.vocabulary import load_vocabulary

    names = {}
    for key, terms in zip(*load_vocabulary().table[["indicator_key", "zh_terms"]].T.to_numpy(), strict=True):
        words = [w.strip() for w in str(terms).split("/") if w.strip()]
        plain = [w for w in words if "{" not in w]
        if plain:
            names[key] = plain[0]
        elif words:
            text, context = words[0].rstrip("}").split("{", 1)
            names[key] = text.strip() + context.split("|")[0].strip()
    return names


def translated(frame: pd.DataFrame, lang: str) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` as shown in ``lang`` and the columns that have no Chinese label.

    Chinese: headers become two rows (Chinese label over the column name), category values and True/False are in
    Chinese, and English-only columns (``*_en``, such as ``indicator_en``) are left out: their Chinese form is in
    another column (the exported CSV keeps them). In both, a named index becomes a column (an unnamed one is row
    numbers and is left out) and missing values of any type show as "—"."""
    import pandas as pd

    check_lang(lang)
    named = any(n is not None for n in frame.index.names)  # a named index is data (event_time); else row numbers
    frame = frame.reset_index(drop=not named)
    if lang == "zh":
        frame = frame.loc[:, [not str(c).endswith("_en") for c in frame.columns]]
    names = [str(c) for c in frame.columns]
    untranslated = [c for c in names if c not in COLUMNS_ZH]
    columns = []
    for i in range(frame.shape[1]):  # by position: a frame may repeat a column name
        s = frame.iloc[:, i]
        if names[i] in _WHOLE and pd.api.types.is_numeric_dtype(s) and (s.dropna() % 1 == 0).all():
            s = s.map(lambda v: str(int(v)) if pd.notna(v) else float("nan")).astype(object)  # 2010, not "2,010"
        elif (s.dtype == object or isinstance(s.dtype, pd.api.extensions.ExtensionDtype)) and s.isna().any():
            s = s.astype(object).where(s.notna(), float("nan"))  # shown as "—", not "<NA>"
        if lang == "zh" and s.dtype == bool:
            s = s.map({True: "是", False: "否"})
        elif lang == "zh" and (s.dtype == object or isinstance(s.dtype, pd.StringDtype)):
            s = s.map(lambda v: value_zh(v) if isinstance(v, str) else v)
        columns.append(s.reset_index(drop=True))
    out = pd.concat(columns, axis=1, ignore_index=True) if columns else frame.copy()
    out.columns = (pd.MultiIndex.from_tuples([(COLUMNS_ZH.get(c, c), c) for c in names]) if lang == "zh"
                   else frame.columns)
    return out, untranslated


class Shown:
    """What :func:`show_in`'s ``show`` displays: HTML for notebooks and a plain-text form for consoles."""

    def __init__(self, caption: str, method: str | None, frame: pd.DataFrame, untranslated: list[str],
                 lang: str) -> None:
        self.caption, self.method, self.frame, self.untranslated, self.lang = (caption, method, frame,
                                                                               untranslated, lang)

    def _method_line(self) -> str:
        return f"{'方法：' if self.lang == 'zh' else 'Method: '}{self.method}" if self.method else ""

    def _formatters(self) -> list:
        """One formatter per column: p-values as a reader expects them ("<0.001", "0.042"), integers with thousands
        separators (labels such as years were made text before), other numbers by :func:`_number`, other cells by
        :func:`_cell`."""
        import pandas as pd

        out = []
        for i, col in enumerate(self.frame.columns):
            name = col[-1] if isinstance(col, tuple) else col
            s = self.frame.iloc[:, i]
            if name in _P_VALUES:
                out.append(lambda v: "—" if pd.isna(v) else "<0.001" if v < 0.001 else f"{v:.3f}")
            elif pd.api.types.is_integer_dtype(s) and not pd.api.types.is_bool_dtype(s):
                out.append(lambda v: "—" if pd.isna(v) else f"{v:,}")
            elif pd.api.types.is_float_dtype(s):
                out.append(lambda v: "—" if pd.isna(v) else _number(v))
            else:
                out.append(_cell)
        return out

    def _repr_html_(self) -> str:
        head = f"<p><b>{html.escape(self.caption)}</b></p>"
        if self.method:
            head += f"<p><small>{html.escape(self._method_line())}</small></p>"
        table = self.frame.to_html(index=False, max_rows=60, formatters=self._formatters(), na_rep="—")
        return (f'<div class="cnfp-table" data-untranslated="{html.escape(",".join(self.untranslated))}">'
                f"{head}{table}</div>")

    def __repr__(self) -> str:
        import pandas as pd

        with pd.option_context("display.max_rows", 60, "display.width", 120):
            body = self.frame.to_string(index=False, formatters=self._formatters(), na_rep="—")
        return "\n".join(line for line in (self.caption, self._method_line(), body) if line)


def _cell(v: object) -> str:
    """A text cell: "—" when missing; a date at midnight without its time ("2016-10-01", not "2016-10-01 00:00:00")."""
    import pandas as pd

    if v is None or (isinstance(v, float) and v != v) or v is pd.NaT:
        return "—"
    if isinstance(v, pd.Timestamp) and v == v.normalize():
        return v.strftime("%Y-%m-%d")
    return str(v)


def shown(obj: Result | pd.DataFrame, lang: str, caption: tuple[str, str] | None = None) -> Shown:
    """The :class:`Shown` form of a result or a DataFrame in ``lang``; ``caption`` (en, zh) defaults to a result's
    ``TITLE`` and is required for a DataFrame."""
    check_lang(lang)
    if isinstance(obj, Result):
        en, zh = caption or (obj.TITLE + ("",))[:2]
        method = obj.method_text(lang)
        frame = obj.table
    else:
        if caption is None:
            raise ModelSpecificationError("show(frame, caption): a DataFrame needs a caption (English, Chinese)")
        (en, zh), method, frame = caption, None, obj
    shown_frame, untranslated = translated(frame, lang)
    return Shown(zh or en if lang == "zh" else en, method, shown_frame, untranslated, lang)


def show_in(lang: str) -> Callable[..., None]:
    """``show(obj, caption=None)`` for ``lang``: displays :func:`shown` (IPython)."""
    check_lang(lang)

    def show(obj: Result | pd.DataFrame, caption: tuple[str, str] | None = None) -> None:
        from IPython.display import display

        display(shown(obj, lang, caption))

    return show

