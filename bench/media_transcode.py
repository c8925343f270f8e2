"""The `media` stage's transcoding figures: the whole HLS ladder (videos/media.py `ladder_build`,
the worker's own code path) of a 720p30 `testsrc` source against the source's own duration
(target: >= 1x real time on this 2-core box), and of a 1080p30 one, with the CPU seconds the
ffmpeg children spent per second of output (their rusage, user + system).

`python -m bench.media_transcode [--quick] [--runs N]`; bin/bench's `media` stage prints
`stage_lines(quick=...)`. Sources are generated once under var/bench-media/ and reused.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import VAR
from videos.media import ladder_build, source_facts_read

SOURCES = VAR / "bench-media"
TARGET_SPEED = 1.0  # x real time, 720p ladder (issue #21)


@dataclass(frozen=True)
class LadderRun:
    height: int
    seconds: float  # the source's duration
    wall: float
    cpu: float  # the children's user + system seconds

    @property
    def speed(self) -> float:
        return self.seconds / self.wall

    @property
    def cpu_per_output_second(self) -> float:
        return self.cpu / self.seconds


def source_make(*, height: int, seconds: int) -> Path:
    """A `testsrc` + 440 Hz source, H.264 (ultrafast, so it is quick to make) + AAC, 30 fps."""
    path = SOURCES / f"testsrc-{height}p30-{seconds}s.mp4"
    if path.is_file():
        return path
    SOURCES.mkdir(parents=True, exist_ok=True)
    width = height * 16 // 9
    partial = path.with_suffix(".part.mp4")
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc=size={width}x{height}:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            str(seconds),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-movflags",
            "+faststart",
            str(partial),
        ],
        check=True,
    )
    partial.rename(path)
    return path


def ladder_run(*, source: Path) -> LadderRun:
    facts = source_facts_read(path=source)
    work = Path(tempfile.mkdtemp(prefix="bench-ladder-", dir=VAR))
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        ladder_build(source=source, out=work / "out", facts=facts)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return LadderRun(height=facts.height, seconds=facts.duration, wall=wall, cpu=cpu)


def _median(runs: list[LadderRun]) -> LadderRun:
    return LadderRun(
        height=runs[0].height,
        seconds=runs[0].seconds,
        wall=statistics.median(r.wall for r in runs),
        cpu=statistics.median(r.cpu for r in runs),
    )


def _line(run: LadderRun, runs: int) -> str:
    return (
        f"ladder of a {run.seconds / 60:.0f}-min {run.height}p30 source: {run.wall:.1f} s, "
        f"{run.speed:.2f}x real time, {run.cpu_per_output_second:.2f} CPU s per output s "
        f"(median of {runs})"
    )


def stage_lines(*, quick: bool, runs: int = 1) -> list[str]:
    """The 720p ladder of a 10-minute source (1 minute when `quick`) against the 1x target, and
    the 1080p ladder of a source of a fifth of that length (the same speed, in less time)."""
    seconds = 60 if quick else 600
    r720 = _median([ladder_run(source=source_make(height=720, seconds=seconds)) for _ in range(runs)])
    r1080 = _median([ladder_run(source=source_make(height=1080, seconds=max(60, seconds // 5))) for _ in range(runs)])
    verdict = "met" if r720.speed >= TARGET_SPEED else "MISSED"
    return [
        f"{_line(r720, runs)} (target >= {TARGET_SPEED:.0f}x: {verdict})",
        _line(r1080, runs),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a 1-minute source instead of 10 minutes")
    parser.add_argument("--runs", type=int, default=1, help="runs per source; the median is printed")
    args = parser.parse_args()
    for line in stage_lines(quick=args.quick, runs=args.runs):
        print(line)


if __name__ == "__main__":
    main()
