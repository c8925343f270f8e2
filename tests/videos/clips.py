"""Small test clips made by ffmpeg from its `testsrc` and `sine` sources (no internet, a few KB)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def clip_make(
    path: Path,
    *,
    seconds: float = 3,
    size: str = "640x360",
    rate: int = 25,
    audio: bool = True,
    faststart: bool = True,
    pix_fmt: str = "yuv420p",
) -> Path:
    command = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}"]
    if audio:
        command += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    command += ["-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", pix_fmt]
    if audio:
        command += ["-c:a", "aac"]
    if faststart:
        command += ["-movflags", "+faststart"]
    subprocess.run([*command, str(path)], check=True, timeout=60)
    return path
