"""SimilarityBrowser: the library samples nearest to a target, each one click from playing."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w
import traitlets

from ._audio import STATE_WORDS, PlayerSlot
from ._base import Panel, reports_errors, short_name
from ._target import Choice, TargetPicker

__all__ = ["SimilarityBrowser"]


class SimilarityBrowser(Panel):
    """Find similar samples (``SoundSampleTool.find_similar``) and listen to them.

    The target is a library entry, a path, or an uploaded file, searched for in the latent
    space, the MFCC statistics or both (``space``). Results are listed nearest first with
    distance and onset; each play button plays that entry from its onset (one
    clip). With a LatentMap, the target (diamond) and the results (rings) are highlighted
    on it, and clicking a point on the map makes it the target.

    Parameters
    ----------
    tool : SoundSampleTool with a library
    latent_map : LatentMap to highlight on (and follow clicks of)
    num_similar : initial number of results
    autoplay : start playing on a play click
    player : the :class:`~widgets._audio.PlayerSlot` to play into (default: its own)
    row_extras : ``row_extras(k, path, onset)`` -> more widgets at the end of result row ``k``
    compact : narrow result rows (the name with its onset, the distance, an icon button)

    Attributes
    ----------
    result : trait, the last search's :class:`~samplevae.tool.SimilarResult` (``None``
        before the first); setting one lists its entries with play buttons
    target : the :class:`~widgets._target.Choice` searched for last
    """

    result = traitlets.Instance(
        "samplevae.tool.SimilarResult", allow_none=True, help="the last search's results"
    )

    def __init__(
        self,
        tool,
        *,
        latent_map=None,
        num_similar: int = 5,
        autoplay: bool = True,
        player: PlayerSlot | None = None,
        row_extras: Callable[[int, str, float], list[w.Widget]] | None = None,
        compact: bool = False,
    ):
        super().__init__()
        if tool.library is None:
            raise ValueError(
                "SimilarityBrowser needs a tool with a library: "
                "SoundSampleTool(logdir, library_dir=...)"
            )
        self.tool = tool
        self.latent_map = latent_map
        lib = tool.library
        self.picker = TargetPicker(
            list(zip(lib.paths, map(float, lib.onsets), strict=True)), description="target"
        )
        n_max = max(1, min(50, len(lib)))
        self.num_similar = w.IntSlider(
            value=min(num_similar, n_max), min=1, max=n_max, description="results"
        )
        self.exclude_self = w.Checkbox(value=True, description="exclude the target itself")
        self.space = w.Dropdown(
            options=[
                ("latent space", "latent"),
                ("latent + MFCC statistics", "joint"),
                ("MFCC statistics (no model)", "mfcc"),
            ],
            value="latent",
            description="search in",
            tooltip="find_similar(space=...): on kits the model never heard, the MFCC "
            "statistics found same-class sounds most often",
        )
        self.search_button = w.Button(
            description="Find similar", button_style="primary", icon="search"
        )
        self.search_button.on_click(self._on_search)
        self.play_target = w.Button(description="play target", icon="play")
        self.play_target.on_click(self._on_play_target)
        self.results = w.VBox()
        self.player = player if player is not None else PlayerSlot(autoplay=autoplay)
        self.player.on_state(self._on_player_state)
        self._now = ""
        self.row_extras = row_extras
        self.compact = compact
        self.target: Choice | None = None
        self.play_buttons: list[w.Button] = []
        if latent_map is not None:
            latent_map.on_select(self._on_map_select)
        self.widget = w.VBox(
            [
                w.HTML("<b>Similarity browser</b> — nearest library samples"),
                self.picker.widget,
                w.HBox([self.num_similar, self.exclude_self]),
                self.space,
                w.HBox([self.search_button, self.play_target]),
                self.status,
                self.results,
                self.player.box,
            ]
        )
        self.widget.add_class("samplevae-similarity-browser")

    @reports_errors
    def _on_map_select(self, ids: list[int]) -> None:
        if len(ids) != 1:
            return
        path, onset = self.latent_map.paths[ids[0]], float(self.latent_map.onsets[ids[0]])
        try:
            k = self.picker.entries.index((path, onset))
        except ValueError:
            return
        self.picker.select_entry(k)
        self.search()  # the results follow the map: never the old target's list

    def search(self, choice: Choice | None = None):
        """Search for ``choice`` (default: the picker's); returns the ``SimilarResult``."""
        choice = choice or self.picker.choice()
        n = int(self.num_similar.value)
        res = self.tool.find_similar(
            choice.path,
            n,
            display=False,
            offset=choice.onset,
            exclude_self=self.exclude_self.value,
            space=self.space.value,
        )
        self.target, self.result = choice, res
        if self.latent_map is not None:
            z = self.tool.embed(choice.path, choice.onset)
            self.latent_map.show_query(
                z,
                list(zip(res.files, res.onsets, strict=True)),
                query=(choice.path, choice.onset),
                name=f"query: {choice.label}",
                distances=res.distances,
            )
        self._ok(f"{len(res.files)} nearest to {choice.label}")
        return res

    @traitlets.observe("result")
    def _on_result(self, change) -> None:
        res = change.new
        self.play_buttons = []
        if res is None:
            self.results.children = ()
            return
        rows = []
        compact = self.compact
        for k, (f, o, d) in enumerate(zip(res.files, res.onsets, res.distances, strict=True)):
            button = w.Button(
                description="" if compact else "play",
                icon="play",
                tooltip=f"play {f} from {o:.2f} s",
                layout=w.Layout(width="36px" if compact else "80px"),
            )
            button.add_class("samplevae-play")
            button.on_click(lambda _b, k=k: self._on_play(k))
            self.play_buttons.append(button)
            rows.append(
                w.HBox(
                    [
                        w.Label(f"{k + 1}.", layout=w.Layout(width="26px" if compact else "30px")),
                        w.Label(
                            short_name(f, o) if compact else short_name(f),
                            tooltip=f,
                            layout=w.Layout(width="190px" if compact else "300px"),
                        ),
                        w.Label(
                            f"{d:.3f}" if compact else f"distance {d:.3f}",
                            tooltip="distance in latent space",
                            layout=w.Layout(width="50px" if compact else "120px"),
                        ),
                        *(
                            []
                            if compact
                            else [w.Label(f"onset {o:.2f} s", layout=w.Layout(width="100px"))]
                        ),
                        button,
                        *(self.row_extras(k, f, o) if self.row_extras is not None else []),
                    ]
                )
            )
            rows[-1].add_class("samplevae-result")
        self.results.children = tuple(rows)

    def play(self, k: int) -> None:
        """Play result ``k`` (0 = nearest) from its onset, one clip long."""
        f, o = self.result.files[k], self.result.onsets[k]
        self.player.play_file(f, o, duration=self.tool.audio_params.sample_sec)
        self._playing(f"{k + 1}. {short_name(f, o)}")

    def _playing(self, what: str) -> None:
        """Say what the player holds, and (as the browser reports it) whether it plays."""
        self._now = self.player.label = what
        self._on_player_state(self.player.state)

    def _on_player_state(self, state: str) -> None:
        if self._now and self._now == self.player.label:
            self._info(f"{STATE_WORDS.get(state, state)} {self._now}")

    @reports_errors
    def _on_search(self, _button) -> None:
        self.search()

    @reports_errors
    def _on_play(self, k: int) -> None:
        self.play(k)

    @reports_errors
    def _on_play_target(self, _button) -> None:
        c = self.picker.choice()
        self.player.play_file(c.path, c.onset, duration=self.tool.audio_params.sample_sec)
        self._playing(f"target {c.label}")
