"""DuplicatesView: the library's identical and near-duplicate samples, each playable, with a
"keep one" choice per group written to a report (nothing is ever deleted or moved)."""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path
from types import SimpleNamespace

import ipywidgets as w
import numpy as np
import traitlets

from samplevae.duplicates import DuplicateGroup, DuplicateReport, write_report
from samplevae.errors import ParameterError

from ._audio import PlayerSlot
from ._base import Panel, reports_errors, short_name

__all__ = ["DuplicatesView"]

_KIND_LABEL = {"identical": "identical files (same bytes)", "near": "near-duplicates"}


class DuplicatesView(Panel):
    """Find duplicates in the tool's library (``SoundSampleTool.find_duplicates``) and mark
    the one to keep in each group.

    Groups of byte-identical files are listed first, then groups of near-duplicates (entries
    closer than the threshold in latent space) with each member's distance to the kept one.
    Every member has a play button (it plays from its onset, one clip long). Each group has
    a "keep" choice (initially the first member, the shortest file name); "Write report"
    writes a CSV or JSON report (:func:`samplevae.duplicates.write_report`: one row per
    member, the kept one marked ``keep``). Nothing in the library is moved, changed or
    deleted. "Export group" writes one group's members as a kit (``tool.export``) to
    compare them elsewhere.

    Parameters
    ----------
    tool : SoundSampleTool with a library
    threshold : latent distance; ``None``: the default rule of ``find_duplicates``
    exact : also find byte-identical files
    within_file : also group segments of one file
    page_size : groups shown at once (the rest through the page buttons)
    autoplay : start playing on a play click (default True)

    Attributes
    ----------
    report : trait, the :class:`~samplevae.duplicates.DuplicateReport` shown
    keep : trait, list of int, per group the index (into ``group.paths``) of the member kept
    """

    report = traitlets.Instance(DuplicateReport, allow_none=True, help="the groups shown")
    keep = traitlets.List(traitlets.Int(), help="per group, the member to keep")

    def __init__(
        self,
        tool,
        threshold: float | None = None,
        *,
        exact: bool = True,
        within_file: bool = False,
        page_size: int = 20,
        autoplay: bool = True,
    ):
        super().__init__()
        if tool.library is None:
            raise ValueError(
                "DuplicatesView needs a tool with a library: "
                "SoundSampleTool(logdir, library_dir=...)"
            )
        self.tool = tool
        self.page_size = max(1, int(page_size))
        self.page = 0
        self.use_default = w.Checkbox(
            value=threshold is None, description="default threshold", indent=False
        )
        self.threshold = w.BoundedFloatText(
            value=float(threshold or 0.0),
            min=0.0,
            max=1e9,
            step=0.001,
            description="threshold",
            disabled=threshold is None,
            layout=w.Layout(width="220px"),
        )
        self.use_default.observe(self._on_default, names="value")
        self.exact = w.Checkbox(value=exact, description="identical files", indent=False)
        self.within_file = w.Checkbox(
            value=within_file, description="segments of one file", indent=False
        )
        self.find_button = w.Button(description="Find duplicates", icon="search")
        self.find_button.on_click(self._on_find)
        self.summary = w.HTML()
        self.groups_box = w.VBox()
        self.prev_button = w.Button(icon="chevron-left", layout=w.Layout(width="40px"))
        self.next_button = w.Button(icon="chevron-right", layout=w.Layout(width="40px"))
        self.page_label = w.Label()
        self.prev_button.on_click(lambda _b: self._on_page(-1))
        self.next_button.on_click(lambda _b: self._on_page(+1))
        self.report_path = w.Text(
            value="duplicates.csv", description="report", layout=w.Layout(width="420px")
        )
        self.report_button = w.Button(
            description="Write report", button_style="primary", icon="file"
        )
        self.report_button.on_click(self._on_write)
        self.export_group_index = w.BoundedIntText(
            value=1, min=1, max=1, description="group", layout=w.Layout(width="160px")
        )
        self.export_dir = w.Text(
            value="duplicates_kit", description="kit folder", layout=w.Layout(width="320px")
        )
        self.export_format = w.Dropdown(
            options=["folder", "sfz", "hydrogen"], value="folder", layout=w.Layout(width="110px")
        )
        self.export_button = w.Button(description="Export group", icon="download")
        self.export_button.on_click(self._on_export)
        self.player = PlayerSlot(autoplay=autoplay)
        # shown from the start: a player rendered only by the first click would not start
        # playing on that click (its load arrives before it is in the page)
        self.player.box.children = (self.player.player,)
        self.play_buttons: dict[tuple[int, int], w.Button] = {}
        self.keep_choices: dict[int, w.Dropdown] = {}
        self.widget = w.VBox(
            [
                w.HTML(
                    "<b>Duplicates</b> — identical and near-identical samples of the library; "
                    "choose the one to keep, write the report (nothing is deleted)"
                ),
                w.HBox(
                    [self.use_default, self.threshold, self.exact, self.within_file],
                    layout=w.Layout(align_items="center"),
                ),
                w.HBox([self.find_button]),
                self.summary,
                self.groups_box,
                w.HBox([self.prev_button, self.page_label, self.next_button]),
                w.HBox([self.report_path, self.report_button]),
                w.HBox(
                    [
                        self.export_group_index,
                        self.export_dir,
                        self.export_format,
                        self.export_button,
                    ]
                ),
                self.status,
                self.player.box,
            ]
        )
        self.widget.add_class("samplevae-duplicates-view")
        self.find()

    # --- actions -----------------------------------------------------------------------------

    def find(self) -> DuplicateReport:
        """Search the library again with the threshold settings; returns the report."""
        thr = None if self.use_default.value else float(self.threshold.value)
        report = self.tool.find_duplicates(
            thr, exact=bool(self.exact.value), within_file=bool(self.within_file.value)
        )
        self.page = 0
        self.keep = [0] * len(report.groups)
        self.report = report
        return report

    @property
    def groups(self) -> list[DuplicateGroup]:
        return list(self.report.groups) if self.report is not None else []

    def kept(self) -> list[str]:
        """The file kept in each group (its path)."""
        return [g.paths[k] for g, k in zip(self.groups, self.keep, strict=True)]

    def marked_report(self) -> DuplicateReport:
        """The report with each group's kept member first (as :func:`write_report` marks it)
        and the distances measured to that member."""
        emb = np.asarray(self.tool.library.embeddings, dtype=np.float64)
        groups = []
        for g, k in zip(self.groups, self.keep, strict=True):
            order = [k] + [j for j in range(len(g)) if j != k]
            if g.kind == "near" and k != 0:
                ref = emb[g.ids[k]]
                dist = [float(np.sqrt(((emb[g.ids[j]] - ref) ** 2).sum())) for j in order]
            else:
                dist = [g.distances[j] for j in order]
            groups.append(
                dataclasses.replace(
                    g,
                    paths=[g.paths[j] for j in order],
                    onsets=[g.onsets[j] for j in order],
                    ids=[g.ids[j] for j in order],
                    distances=dist,
                )
            )
        return dataclasses.replace(self.report, groups=groups)

    def write_report(self, path: str | Path | None = None) -> Path:
        """Write the groups with the "keep" marks to ``path`` (``.csv`` or ``.json``; default
        the report field's value); only the report is written."""
        path = Path(path if path is not None else self.report_path.value).expanduser()
        out = write_report(self.marked_report(), path)
        self._ok(f"report of {len(self.groups)} group(s) written to {out}")
        return out

    def set_keep(self, group: int, member: int) -> None:
        """Keep member ``member`` (index into ``groups[group].paths``) of group ``group``."""
        g = self._group(group)
        if not 0 <= member < len(g):
            raise ParameterError(f"group {group + 1} has {len(g)} members, not {member + 1}")
        keep = list(self.keep)
        keep[group] = int(member)
        self.keep = keep

    def play(self, group: int, member: int) -> None:
        """Play member ``member`` of group ``group`` from its onset, one clip long."""
        g = self._group(group)
        path, onset = g.paths[member], g.onsets[member]
        self.player.play_file(path, onset, duration=self.tool.audio_params.sample_sec)
        self._info(f"playing group {group + 1}: {short_name(path, onset)}")

    def export_group(
        self,
        group: int,
        out_dir: str | Path,
        *,
        format: str = "folder",  # noqa: A002
    ):
        """Write group ``group``'s members as a kit with ``tool.export`` (copies; segments of
        segmented files cut to their segment); returns the export result."""
        g = self._group(group)
        if g.kind == "identical":
            selection = list(g.paths)
        else:
            selection = SimpleNamespace(files=list(g.paths), onsets=list(g.onsets))
        result = self.tool.export(
            selection, out_dir, format=format, name=f"duplicates_group_{group + 1}"
        )
        self._ok(f"group {group + 1}: {len(result.samples)} sample(s) written to {out_dir}")
        return result

    def _group(self, group: int) -> DuplicateGroup:
        groups = self.groups
        if not 0 <= int(group) < len(groups):
            raise ParameterError(f"no group {int(group) + 1}: there are {len(groups)}")
        return groups[int(group)]

    # --- drawing -----------------------------------------------------------------------------

    @traitlets.observe("report")
    def _on_report(self, _change) -> None:
        r = self.report
        if r is None:
            self.summary.value = ""
            self.groups_box.children = ()
            return
        n_ident, n_near = len(r.identical), len(r.near)
        self.summary.value = (
            f"{n_ident} group(s) of identical files, {n_near} group(s) of near-duplicates "
            f"among {r.entries} entries of {r.files} files; threshold {r.threshold:.4g} "
            f"({html.escape(r.threshold_rule)})"
        )
        if self.use_default.value:
            self.threshold.value = float(f"{r.threshold:.4g}")
        self.export_group_index.max = max(1, len(r.groups))
        self._draw_page()
        self._info(f"{len(r.groups)} group(s) found")

    def _draw_page(self) -> None:
        groups = self.groups
        n_pages = max(1, -(-len(groups) // self.page_size))
        self.page = min(max(self.page, 0), n_pages - 1)
        first = self.page * self.page_size
        shown = range(first, min(len(groups), first + self.page_size))
        self.play_buttons, self.keep_choices = {}, {}
        boxes = [self._group_box(gi, groups[gi]) for gi in shown]
        if not groups:
            boxes = [w.HTML("<i>no duplicates found</i>")]
        self.groups_box.children = tuple(boxes)
        self.page_label.value = (
            f"groups {first + 1}–{shown.stop} of {len(groups)}" if groups else "no groups"
        )
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= n_pages - 1

    def _group_box(self, gi: int, g: DuplicateGroup) -> w.Widget:
        k = self.keep[gi]
        choice = w.Dropdown(
            options=[
                (short_name(p, o), j)
                for j, (p, o) in enumerate(zip(g.paths, g.onsets, strict=True))
            ],
            value=k,
            description="keep",
            layout=w.Layout(width="460px"),
        )
        choice.observe(lambda ch, gi=gi: self._on_keep(gi, ch.new), names="value")
        self.keep_choices[gi] = choice
        extra = f", max distance {g.max_distance:.4g}" if g.kind == "near" else ""
        head = w.HTML(f"<b>{gi + 1}.</b> {_KIND_LABEL[g.kind]}, {len(g)} members{extra}")
        rows = []
        for j, (p, o, d) in enumerate(zip(g.paths, g.onsets, g.distances, strict=True)):
            button = w.Button(
                description="play",
                icon="play",
                tooltip=f"play {p} from {o:.2f} s",
                layout=w.Layout(width="80px"),
            )
            button.add_class("samplevae-play")
            button.on_click(lambda _b, gi=gi, j=j: self._on_play(gi, j))
            self.play_buttons[gi, j] = button
            mark = "keep" if j == k else ""
            dist = f"distance {d:.4g}" if g.kind == "near" else (g.sha256 or "")[:12]
            rows.append(
                w.HBox(
                    [
                        button,
                        w.Label(short_name(p, o), layout=w.Layout(width="480px")),
                        w.Label(dist, layout=w.Layout(width="140px")),
                        w.HTML(f"<b style='color:#2a6'>{mark}</b>"),
                    ]
                )
            )
        box = w.VBox([w.HBox([head, choice]), *rows])
        box.add_class("samplevae-duplicate-group")
        box.layout = w.Layout(border="1px solid #ddd", padding="4px", margin="2px 0")
        return box

    @traitlets.observe("keep")
    def _on_keep_change(self, change) -> None:
        old = change.old if isinstance(change.old, list) else []
        if self.report is not None and len(old) == len(change.new) == len(self.report.groups):
            self._draw_page()

    # --- events ------------------------------------------------------------------------------

    def _on_default(self, change) -> None:
        self.threshold.disabled = bool(change.new)

    @reports_errors
    def _on_find(self, _button) -> None:
        self.find()

    @reports_errors
    def _on_page(self, step: int) -> None:
        self.page += step
        self._draw_page()

    @reports_errors
    def _on_keep(self, gi: int, member: int) -> None:
        self.set_keep(gi, member)
        g = self.groups[gi]
        self._info(f"group {gi + 1}: keep {short_name(g.paths[member], g.onsets[member])}")

    @reports_errors
    def _on_play(self, gi: int, j: int) -> None:
        self.play(gi, j)

    @reports_errors
    def _on_write(self, _button) -> None:
        self.write_report()

    @reports_errors
    def _on_export(self, _button) -> None:
        self.export_group(
            int(self.export_group_index.value) - 1,
            Path(self.export_dir.value).expanduser(),
            format=self.export_format.value,
        )
