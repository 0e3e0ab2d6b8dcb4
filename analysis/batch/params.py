"""Notebook parameters and regions, checked before anything runs.

papermill only *warns* about a parameter the notebook does not declare; here it is an error. Values are
typed against the defaults in the notebook's ``parameters`` cell (``region = "000000"  # comment``),
dates must parse, regions must exist in the registry, and nothing a user typed reaches a file path
unchecked: output folders are named by the 6-digit region code only.
"""

from __future__ import annotations

import ast
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from analysis.config import NATION_CODE, NOTEBOOKS_DIR
from analysis.exceptions import AnalysisError

#: Parameters the runner sets itself, never the user.
RESERVED = ("region", "output_dir")
_CODE = re.compile(r"\d{6}")
#: region levels a notebook may declare in its metadata (``cnfp.levels``); those of analysis.data.regions.LEVELS,
#: not imported from there because that module loads pandas, which the batch command imports only later
LEVELS = ("nation", "province", "prefecture", "county")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Parameter:
    """One assignment of a notebook's ``parameters`` cell."""

    name: str
    default: Any
    help: str = ""


@dataclass(frozen=True)
class Notebook:
    """A study notebook and the parameters it declares."""

    path: Path
    parameters: dict[str, Parameter] = field(default_factory=dict)
    #: False for notebooks that need the user's own input (notebook metadata ``cnfp.batch_default``):
    #: they are left out of the default batch, which runs on the embedded data only.
    batch_default: bool = True
    #: modules its code cells import: ``"pkg.mod"`` for ``import pkg.mod``, ``"pkg:name"`` for
    #: ``from pkg import name`` (a submodule or an attribute); the fork server imports them in advance
    imports: tuple[str, ...] = ()
    #: region levels the study applies to (notebook metadata ``cnfp.levels``, e.g. ``["nation", "province"]``);
    #: None = every level. A batch does not run it for regions of other levels and says so.
    levels: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        """File stem, e.g. ``01_sex_ratio_trends`` (used as file name of the outputs)."""
        return self.path.stem

    @property
    def key(self) -> str:
        """Short key used on the command line: the leading number (``01``) or the stem."""
        head = self.name.split("_", 1)[0]
        return head if head.isdigit() else self.name


@dataclass(frozen=True)
class Region:
    """A region as the runner needs it: the code (the folder name) and a display name."""

    code: str
    name: str = ""
    #: nation, province, prefecture or county ("" when not known: then every notebook applies)
    level: str = ""


class ParameterError(AnalysisError, ValueError):
    """A batch parameter is unknown, of the wrong type or unsafe."""


def safe_component(text: str, *, what: str = "name") -> str:
    """Return ``text`` if it can be one path component; raise :class:`ParameterError` otherwise.

    Rejects empty strings, ``.``/``..``, path separators, control characters and leading dots.
    """
    if not isinstance(text, str) or not text or text in {".", ".."} or text.startswith("."):
        raise ParameterError(f"unsafe {what} {text!r}: not usable as a file name")
    bad = [c for c in text if c in "/\\:" or unicodedata.category(c).startswith("C")]
    if bad:
        raise ParameterError(f"unsafe {what} {text!r}: contains {bad[0]!r} (separators and control characters are not allowed)")
    return text


# --------------------------------------------------------------------------- notebooks


def _notebook_json(path: Path) -> dict[str, Any]:
    """The notebook as nbformat 4 JSON. Read with the standard library: importing nbformat (≈ 0.14 s) would delay
    the batch's kernel server, which starts once the notebooks are known; older formats go through nbformat."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParameterError(f"{path}: not a notebook (not UTF-8 JSON: {exc})") from exc
    if not isinstance(nb, dict) or not isinstance(nb.get("nbformat"), int):
        raise ParameterError(f"{path}: not a notebook (no 'nbformat' version)")
    if nb["nbformat"] < 4:
        import nbformat

        nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    return nb


def code_cells(nb: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(source, tags) of every code cell of nbformat-4 JSON (a source may be stored as a list of lines)."""
    out = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            out.append(("".join(source) if isinstance(source, list) else source, cell.get("metadata", {}).get("tags", [])))
    return out


def read_notebook(path: str | Path) -> Notebook:
    """Read the ``parameters`` cell of a notebook (the code cell tagged ``parameters``) and its imports."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"{path}: notebook not found")
    nb = _notebook_json(path)
    meta = nb.get("metadata", {}).get("cnfp", {})
    batch_default = bool(meta.get("batch_default", True))
    levels = meta.get("levels")
    if levels is not None and (not isinstance(levels, list) or not levels or not set(levels) <= set(LEVELS)):
        raise ParameterError(f"{path}: metadata cnfp.levels must be a non-empty list of {list(LEVELS)}, got {levels!r}")
    common = {"batch_default": batch_default, "levels": tuple(levels) if levels else None}
    cells = code_cells(nb)
    imports = code_imports(source for source, _ in cells)
    tagged = [source for source, tags in cells if "parameters" in tags]
    if not tagged:
        return Notebook(path=path, imports=imports, **common)
    source = tagged[0]
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError(f"{path}: parameters cell is not valid Python ({exc.msg}, line {exc.lineno})") from exc
    lines = source.splitlines()
    params: dict[str, Parameter] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id
        try:
            default = ast.literal_eval(node.value)
        except ValueError as exc:
            raise ParameterError(
                f"{path}: parameter {name!r} (line {node.lineno}) must have a JSON-able literal default"
            ) from exc
        line = lines[node.lineno - 1]
        comment = line.split("#", 1)[1].strip() if "#" in line[node.value.end_col_offset :] else ""
        params[name] = Parameter(name=name, default=default, help=comment)
    return Notebook(path=path, parameters=params, imports=imports, **common)


def code_imports(sources: Iterable[str]) -> tuple[str, ...]:
    """The absolute imports of code cells, in order of first appearance: ``"a.b"`` for ``import a.b``,
    ``"a:b"`` for ``from a import b``. Cells that are not plain Python (magics) are skipped."""
    found: dict[str, None] = {}
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(dict.fromkeys(alias.name for alias in node.names))
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.update(dict.fromkeys(f"{node.module}:{alias.name}" for alias in node.names if alias.name != "*"))
    return tuple(found)


def find_notebooks(keys: str | list[str] | None = None, *, directory: Path | None = None) -> list[Notebook]:
    """Notebooks by key (``"01,03"``, a stem or a path).

    ``None`` = every ``NN_*.ipynb`` that takes a region and runs on the embedded data alone (not those marked
    ``cnfp.batch_default: false``, such as 04, which reads the user's report texts).
    """
    directory = Path(directory or NOTEBOOKS_DIR)
    if keys is None:
        found = [read_notebook(p) for p in sorted(directory.glob("[0-9][0-9]_*.ipynb"))]
        return [nb for nb in found if "region" in nb.parameters and nb.batch_default]
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    out: list[Notebook] = []
    for key in keys:
        candidate = Path(key)
        if candidate.suffix == ".ipynb" and candidate.is_file():
            out.append(read_notebook(candidate))
            continue
        safe_component(key, what="notebook")
        matches = sorted(directory.glob(f"{key}_*.ipynb")) + sorted(directory.glob(f"{key}.ipynb"))
        if not matches:
            have = ", ".join(p.stem for p in sorted(directory.glob("*.ipynb"))) or "none"
            raise ParameterError(f"no notebook {key!r} in {directory} (have: {have})")
        out.append(read_notebook(matches[0]))
    for nb in out:
        if "region" not in nb.parameters:
            raise ParameterError(f"{nb.path}: the parameters cell does not declare 'region', so it cannot be run per region")
    return out


# --------------------------------------------------------------------------- values


def parse_cli_value(raw: str, param: Parameter) -> Any:
    """Convert a ``-p name value`` string to the type of the notebook's default."""
    default = param.default
    try:
        if isinstance(default, bool):
            low = raw.strip().lower()
            if low in {"true", "1", "yes"}:
                return True
            if low in {"false", "0", "no"}:
                return False
            raise ValueError
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, (list, dict)) or default is None:
            try:
                return json.loads(raw)
            except json.JSONDecodeError:
                if default is None:
                    return raw
                raise
        return raw
    except ValueError as exc:
        raise ParameterError(
            f"parameter {param.name!r}: cannot read {raw!r} as {type(default).__name__} (default {default!r})"
        ) from exc


def check_value(notebook: Notebook, name: str, value: Any) -> Any:
    """Check ``value`` for parameter ``name`` of ``notebook``; return it (ints accepted for floats)."""
    if name not in notebook.parameters:
        declared = ", ".join(sorted(notebook.parameters)) or "none"
        raise ParameterError(f"{notebook.path.name}: unknown parameter {name!r} (the notebook declares: {declared})")
    default = notebook.parameters[name].default
    ok = (
        default is None
        or (isinstance(default, bool) and isinstance(value, bool))
        or (isinstance(default, float) and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (not isinstance(default, (bool, float)) and type(value) is type(default))
    )
    if not ok:
        raise ParameterError(
            f"{notebook.path.name}: parameter {name!r} expects {type(default).__name__} "
            f"(like the default {default!r}), got {value!r}"
        )
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{notebook.path.name}: parameter {name!r} must be JSON-able, got {value!r}") from exc
    if isinstance(value, str) and (name.endswith("date") or (isinstance(default, str) and _ISO_DATE.fullmatch(default))):
        try:
            date.fromisoformat(value)
        except ValueError as exc:
            raise ParameterError(f"{notebook.path.name}: parameter {name!r} is not a date (YYYY-MM-DD): {value!r}") from exc
    return float(value) if isinstance(default, float) else value


def notebook_parameters(notebooks: list[Notebook], extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-notebook user parameters. ``extra`` keys are ``name`` (every notebook) or ``NN:name`` (one)."""
    out: dict[str, dict[str, Any]] = {nb.name: {} for nb in notebooks}
    keys = {nb.key: nb for nb in notebooks} | {nb.name: nb for nb in notebooks}
    for full, value in extra.items():
        target, _, name = full.rpartition(":")
        if name in RESERVED:
            raise ParameterError(f"parameter {name!r} is set by the runner (use --regions/--level/--out)")
        if target and target not in keys:
            raise ParameterError(f"-p {full}: no selected notebook {target!r}")
        for nb in [keys[target]] if target else notebooks:
            param = nb.parameters.get(name)
            if param is not None and isinstance(value, str) and not isinstance(param.default, str):
                value_nb = parse_cli_value(value, param)
            else:
                value_nb = value
            out[nb.name][name] = check_value(nb, name, value_nb)
    return out


# --------------------------------------------------------------------------- regions


def _registry():
    from analysis.data import regions

    return regions


def resolve_region(query: str) -> Region:
    """Look a code or name up in the registry (``analysis.data.regions.lookup``)."""
    safe_component(str(query).strip(" "), what="region")
    query = str(query).strip()
    reg = _registry().lookup(query)
    code = str(reg.code)
    if not _CODE.fullmatch(code):
        raise ParameterError(f"region {query!r}: registry returned an invalid code {code!r}")
    return Region(code=code, name=str(getattr(reg, "name_zh", "") or ""), level=str(getattr(reg, "level", "") or ""))


def _frame_regions(frame) -> list[Region]:
    names = frame["name_zh"] if "name_zh" in frame else [""] * len(frame)
    levels = frame["level"] if "level" in frame else [""] * len(frame)
    out = []
    for code, name, level in zip(frame["code"], names, levels, strict=True):
        code = str(code)
        if not _CODE.fullmatch(code):
            raise ParameterError(f"registry returned an invalid region code {code!r}")
        out.append(Region(code=code, name=str(name), level=str(level)))
    return out


def select_regions(
    *,
    regions: str | list[str] | None = None,
    level: str | None = None,
    within: str | None = None,
    all_regions: bool = False,
    include_nation: bool = False,
) -> list[Region]:
    """The regions of a batch: an explicit list, or every region of ``level`` (within one region or all). Level
    ``county`` means the county-level units: the counties plus the prefecture-level cities that have no counties
    (东莞, 中山, 儋州, 嘉峪关, 三沙), so that a county batch covers the country once."""
    chosen: list[Region] = []
    if include_nation:
        chosen.append(Region(code=NATION_CODE, name="全国", level="nation"))
    if regions:
        if isinstance(regions, str):
            regions = [r for r in regions.split(",") if r.strip()]
        chosen += [resolve_region(r) for r in regions]
    elif level or within or all_regions:
        if level not in {"province", "prefecture", "county"}:
            raise ParameterError(f"--level must be province, prefecture or county, got {level!r}")
        parent = resolve_region(within).code if within else NATION_CODE
        reg = _registry()
        units = reg.county_level_units(parent) if level == "county" else reg.children(parent, level=level)
        chosen += _frame_regions(units)
    seen: dict[str, Region] = {}
    for r in chosen:
        seen.setdefault(r.code, r)
    if not seen:
        raise ParameterError("no regions selected (use --regions, --level [--within], --all or --default)")
    return list(seen.values())
