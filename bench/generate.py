"""Generation speed: ms per ``generate`` (blend of two files or a random point, decode,
Griffin-Lim at the default 32 iterations) at the default model size and audio parameters.

    python bench/generate.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_model_dir  # noqa: E402


def _time(fn, repeats: int) -> list[float]:
    fn()  # warm-up (tf.function tracing)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    from samplevae.features import audio_from_features
    from samplevae.synth import make_kit
    from samplevae.tool import SoundSampleTool

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        kick, snare = make_kit(tmp / "kit", per_class=1, classes=("kick", "snare"))
        tool = SoundSampleTool(default_model_dir(tmp / "model"), progress=False)
        tool.fit_sampler([kick, snare])  # this model names no dataset to fit the prior on
        spec = tool.model.decode(tool.blend(seed=0)[None])[0]
        cases = {
            "generate(): random point": lambda: tool.generate(seed=0),
            "generate(): blend of 2 files, weights 1:2": lambda: tool.generate(
                audio_files=[kick, snare], weights=[1, 2]
            ),
            "generate(out_file=...) (+ wav write)": lambda: tool.generate(tmp / "g.wav", seed=0),
            "  of which decoder only": lambda: tool.model.decode(tool.blend(seed=0)[None]),
            "  of which Griffin-Lim (32 it.)": lambda: audio_from_features(spec, tool.audio_params),
            "  Griffin-Lim at 10 it. (original)": lambda: audio_from_features(
                spec, tool.audio_params, n_iter=10
            ),
        }
        print(f"{'case':<46}{'median ms':>10}{'p95 ms':>10}")
        for name, fn in cases.items():
            ms = sorted(_time(fn, 20))
            print(f"{name:<46}{statistics.median(ms):>10.1f}{ms[int(0.95 * (len(ms) - 1))]:>10.1f}")


if __name__ == "__main__":
    main()
