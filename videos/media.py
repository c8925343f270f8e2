"""Uploaded video sources into an HLS ladder, with ffprobe and ffmpeg on local files (no writes to
the database or the media storage here: videos/services.py `video_transcode` does those).

The ladder (`ladder_plan`): the rungs of LADDER no taller than the source (never upscaled), or the
source's own height when it is shorter than the lowest rung. One ffmpeg run decodes the source once
and encodes every rung: H.264 (yuv420p, main profile) + AAC stereo, MPEG-TS segments of
SEGMENT_SECONDS. Keyframes are forced on the same timestamps in every rung (`-force_key_frames` by
time, scene-cut keyframes off), so segment N of each rung starts on the same frame and a player
switches rungs at any segment boundary. A source already fit to be the top rung (`remux_suitable`:
H.264 4:2:0 at the rung's height and bitrate, its own keyframes on those timestamps) is copied into
it instead (`-c copy`: no encode for the largest, costliest rung), and the ladder is rebuilt with
every rung encoded if the copy's segments do not line up with the others'. A master playlist names
the rungs; a poster frame (videos/facts.py `poster_frame_grab`) goes beside it, and so do the
scrubbing previews (a sprite of small frames from the same decode, and the WebVTT cues that point
into it).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import hashlib
import hmac
import logging
import math
import re
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import m3u8
from django.conf import settings

from videos.facts import DEMUXERS, MAX_DURATION_SECONDS, FactsError, FactsUnavailable, file_probe, poster_frame_grab

# (height, video kbit/s): Apple's HLS authoring figures, rounded, for H.264 at up to 30 fps.
LADDER: tuple[tuple[int, int], ...] = ((240, 400), (360, 800), (480, 1400), (720, 2800), (1080, 5000))
AUDIO_KBPS = 128
SEGMENT_SECONDS = 4
# A ladder shorter than this share of the source's declared duration means ffmpeg stopped early:
# the file is truncated (its index promises more than its bytes hold) or damaged.
COMPLETE_SHARE = 0.9
MASTER = "master.m3u8"
POSTER = "poster.jpg"
# Scrubbing previews beside the master playlist (so the ladder's signed URL covers them; the
# player reads exactly these names): one JPEG grid of THUMB_WIDTH x THUMB_HEIGHT frames, one every
# `sprite_interval` seconds, and a WebVTT file whose cues point into it (`sprite.jpg#xywh=x,y,w,h`).
SPRITE = "sprite.jpg"
THUMBNAILS = "thumbnails.vtt"
THUMB_WIDTH, THUMB_HEIGHT = 160, 90
SPRITE_COLUMNS = 10
SPRITE_MAX_FRAMES = 200  # 2,000 x 1,800 px at most, whatever the duration
# Reading every packet's header of a long source (no decoding) takes seconds per hour of video.
PROBE_SECONDS = 600

logger = logging.getLogger(__name__)


class TranscodeFailed(Exception):
    """The source cannot become a ladder; the message is for staff (shown in the admin)."""


class TranscodeCancelled(Exception):
    """Raised by a `progress` callback to stop ffmpeg (staff cancelled, or a new source replaced it)."""


@dataclass(frozen=True)
class SourceFacts:
    duration: float
    width: int
    height: int
    video_codec: str
    audio_codec: str  # empty: no audio track
    pixel_format: str = ""
    # Shown turned (by any angle): a stream copied as it is would lose the turn (remux_suitable).
    turned: bool = False

    @property
    def has_audio(self) -> bool:
        return bool(self.audio_codec)


@dataclass(frozen=True)
class Rung:
    height: int
    video_kbps: int


def source_facts_read(*, path: Path) -> SourceFacts:
    """What ffprobe reads of an uploaded source; TranscodeFailed with the reason staff need."""
    if not path.is_file() or path.stat().st_size == 0:
        raise TranscodeFailed("The file is empty.")
    try:
        probe = file_probe(path=path)
    except FactsUnavailable:
        raise TranscodeFailed("The file is not a video ffprobe can read (MP4, MOV, MKV, WebM or MPEG-TS).") from None
    except FactsError as exc:
        raise TranscodeFailed(str(exc)) from None
    streams = [s for s in probe.get("streams", []) if isinstance(s, dict)]  # type: ignore[attr-defined]
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None:
        raise TranscodeFailed("The file has no video track.")
    width, height = video.get("width"), video.get("height")
    if not (isinstance(width, int) and isinstance(height, int) and width >= 2 and height >= 2):
        raise TranscodeFailed("ffprobe could not read the video's dimensions.")
    angle = _rotation(video)
    if angle % 180 == 90:
        # A phone's portrait video: stored landscape with a rotation that ffmpeg applies when it
        # decodes (autorotate), so the ladder is planned, and the facts recorded, as it is shown.
        width, height = height, width
    fmt = probe.get("format")
    try:
        duration = float(fmt.get("duration", 0)) if isinstance(fmt, dict) else 0.0
    except (TypeError, ValueError):
        duration = 0.0
    if duration <= 0:
        raise TranscodeFailed("ffprobe could not read the video's duration: the file may be truncated.")
    if duration > MAX_DURATION_SECONDS:
        raise TranscodeFailed(f"The video is longer than {MAX_DURATION_SECONDS // 3600} hours.")
    return SourceFacts(
        duration=duration,
        width=width,
        height=height,
        video_codec=str(video.get("codec_name") or "")[:32],
        audio_codec=str(audio.get("codec_name") or "")[:32] if audio else "",
        pixel_format=str(video.get("pix_fmt") or "")[:32],
        turned=angle % 360 != 0,
    )


def _rotation(video: dict[str, object]) -> int:
    """The degrees the stream is displayed turned by (its display matrix, or an old rotate tag), 0..359."""
    side_data = video.get("side_data_list")
    sides = side_data if isinstance(side_data, list) else []
    angles: list[object] = [side.get("rotation") for side in sides if isinstance(side, dict)]
    tags = video.get("tags")
    if isinstance(tags, dict):
        angles.append(tags.get("rotate"))
    for angle in angles:
        try:
            if angle is not None and round(float(str(angle))) % 360:
                return round(float(str(angle))) % 360
        except ValueError:
            continue
    return 0


def ladder_plan(*, height: int) -> list[Rung]:
    """The rungs for a source `height` pixels tall: never taller than it."""
    rungs = [Rung(h, kbps) for h, kbps in LADDER if h <= height]
    if not rungs:
        # Shorter than the lowest rung: one rung at its own (even: H.264 4:2:0) height.
        rungs = [Rung(max(2, height - height % 2), LADDER[0][1])]
    return rungs


def sprite_interval(*, duration: float) -> int:
    """Seconds between two sprite frames: 5, or more so a long video stays within SPRITE_MAX_FRAMES."""
    return max(5, math.ceil(duration / SPRITE_MAX_FRAMES))


def sprite_frames(*, duration: float) -> int:
    return max(1, math.ceil(duration / sprite_interval(duration=duration)))


def thumbnails_vtt(*, duration: float) -> str:
    """The WebVTT cues of the sprite: frame i covers [i, i+1) x interval, clipped to `duration`."""
    interval = sprite_interval(duration=duration)
    lines = ["WEBVTT", ""]
    for i in range(sprite_frames(duration=duration)):
        x, y = (i % SPRITE_COLUMNS) * THUMB_WIDTH, (i // SPRITE_COLUMNS) * THUMB_HEIGHT
        start, end = i * interval, min((i + 1) * interval, duration)
        lines += [f"{_vtt_time(start)} --> {_vtt_time(end)}", f"{SPRITE}#xywh={x},{y},{THUMB_WIDTH},{THUMB_HEIGHT}", ""]
    return "\n".join(lines)


def _vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _ffmpeg_command(*, source: Path, out: Path, rungs: list[Rung], facts: SourceFacts, copy_top: bool) -> list[str]:
    has_audio = facts.has_audio
    # With `copy_top` the top rung is the source's video stream itself (remux_suitable): only the
    # others go through the scaler and the encoder.
    encoded = rungs[:-1] if copy_top else rungs
    split = "".join(f"[s{i}]" for i in range(len(encoded) + 1))
    graph = [f"[0:v:0]format=yuv420p,split={len(encoded) + 1}{split}"]
    # -2: the width that keeps the aspect ratio, rounded to even (odd source dimensions included).
    graph += [f"[s{i}]scale=-2:{rung.height}[v{i}]" for i, rung in enumerate(encoded)]
    # The sprite from the same decode: the first frame at or after each multiple of the interval,
    # letterboxed into a fixed cell (so the cues' geometry never depends on the source's shape or
    # rotation), tiled into one picture that the tile filter emits at the end of the stream.
    frames = sprite_frames(duration=facts.duration)
    rows = math.ceil(frames / SPRITE_COLUMNS)
    graph.append(
        f"[s{len(encoded)}]select='gte(t,selected_n*{sprite_interval(duration=facts.duration)})',"
        f"scale={THUMB_WIDTH}:{THUMB_HEIGHT}:force_original_aspect_ratio=decrease,"
        f"pad={THUMB_WIDTH}:{THUMB_HEIGHT}:(ow-iw)/2:(oh-ih)/2,"
        f"tile={min(frames, SPRITE_COLUMNS)}x{rows}[sprite]"
    )
    command = [
        settings.FFMPEG_BINARY,
        "-v",
        "error",
        "-nostdin",
        "-y",
        # As for the probe: the local file only, through the demuxers that open no other file.
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        DEMUXERS,
        "-i",
        str(source),
        "-filter_complex",
        ";".join(graph),
    ]
    for i, rung in enumerate(encoded):
        # Encoder options per stream (`:v:i`): a copied stream takes none.
        command += [
            "-map",
            f"[v{i}]",
            f"-c:v:{i}",
            "libx264",
            f"-b:v:{i}",
            f"{rung.video_kbps}k",
            f"-maxrate:v:{i}",
            f"{rung.video_kbps * 11 // 10}k",
            f"-bufsize:v:{i}",
            f"{rung.video_kbps * 2}k",
            f"-preset:v:{i}",
            "veryfast",
            f"-profile:v:{i}",
            "main",
            f"-sc_threshold:v:{i}",
            "0",
            f"-force_key_frames:v:{i}",
            f"expr:gte(t,n_forced*{SEGMENT_SECONDS})",
        ]
    if copy_top:
        command += ["-map", "0:v:0", f"-c:v:{len(encoded)}", "copy"]
    if has_audio:
        for i in range(len(rungs)):
            command += ["-map", "0:a:0", f"-c:a:{i}", "aac", f"-b:a:{i}", f"{AUDIO_KBPS}k"]
        command += ["-ac", "2", "-ar", "48000"]
    streams = " ".join(f"v:{i},a:{i}" if has_audio else f"v:{i}" for i in range(len(rungs)))
    command += [
        "-f",
        "hls",
        "-hls_time",
        str(SEGMENT_SECONDS),
        "-hls_playlist_type",
        "vod",
        "-hls_flags",
        "independent_segments",
        "-hls_segment_filename",
        str(out / "%v" / "seg_%05d.ts"),
        "-master_pl_name",
        MASTER,
        "-var_stream_map",
        streams,
        "-progress",
        "pipe:1",
        "-nostats",
        str(out / "%v" / "index.m3u8"),
        # The second output: the sprite, one picture.
        "-map",
        "[sprite]",
        "-fps_mode",
        "passthrough",
        "-frames:v",
        "1",
        "-q:v",
        "5",
        "-update",
        "1",
        str(out / SPRITE),
    ]
    return command


def _die_with_parent() -> None:
    # A SIGKILLed worker would leave ffmpeg writing into the work dir its retry empties: the kernel
    # kills ffmpeg with its parent (Linux prctl PR_SET_PDEATHSIG = 1, SIGKILL = 9).
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


def ladder_build(
    *, source: Path, out: Path, facts: SourceFacts, progress: Callable[[int], None] | None = None
) -> list[Rung]:
    """Encode `source` into the ladder under `out` (empty or absent) and check it is complete.

    A source already fit to be the top rung (`remux_suitable`) is copied into it instead of
    re-encoded (the other rungs are encoded as ever); if its segments then do not line up with the
    other rungs', the ladder is built again with every rung encoded.

    `progress` is called with 0..99 as ffmpeg reports its position (about twice a second); it may
    raise TranscodeCancelled, which kills ffmpeg and propagates. TranscodeFailed when ffmpeg fails
    or stops short of the source's duration."""
    rungs = ladder_plan(height=facts.height)
    copy_top = remux_suitable(path=source, facts=facts, top=rungs[-1])
    _ffmpeg_run(source=source, out=out, rungs=rungs, facts=facts, copy_top=copy_top, progress=progress)
    if copy_top and not _ladder_aligned(out=out, rungs=rungs):
        # The probe's prediction of where the copied stream's segments end was wrong (an odd start
        # offset, timestamps the muxer rounds otherwise): no misaligned ladder is published.
        logger.warning("%s: the copied top rung's segments did not line up; encoding every rung", source.name)
        shutil.rmtree(out, ignore_errors=True)
        _ffmpeg_run(source=source, out=out, rungs=rungs, facts=facts, copy_top=False, progress=progress)
    elif copy_top:
        _copied_rung_codecs_write(out=out, top=len(rungs) - 1, has_audio=facts.has_audio)
    (out / THUMBNAILS).write_text(thumbnails_vtt(duration=facts.duration))
    poster = poster_frame_grab(path=source, at_seconds=min(facts.duration * 0.1, 10.0))
    if poster is None:
        raise TranscodeFailed("ffmpeg could not take a poster frame from the file.")
    (out / POSTER).write_bytes(poster)
    return rungs


def _ffmpeg_run(
    *,
    source: Path,
    out: Path,
    rungs: list[Rung],
    facts: SourceFacts,
    copy_top: bool,
    progress: Callable[[int], None] | None,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    command = _ffmpeg_command(source=source, out=out, rungs=rungs, facts=facts, copy_top=copy_top)
    # Generous: a 2-core box encodes a 720p ladder at about real time; a stuck ffmpeg is killed.
    timeout = max(600.0, facts.duration * 10)
    # ffmpeg's messages go to a file: a damaged source can log a line per bad packet, more than a
    # pipe holds while we read its progress from the other one.
    log = open(out.parent / "ffmpeg.log", "w+")  # noqa: SIM115 (closed below)
    try:
        proc = subprocess.Popen(  # noqa: S603 (our arguments; the file is local)
            command, stdout=subprocess.PIPE, stderr=log, text=True, preexec_fn=_die_with_parent
        )
    except FileNotFoundError:
        log.close()
        raise TranscodeFailed("ffmpeg is not installed (bin/ffmpeg installs it).") from None
    assert proc.stdout is not None  # noqa: S101 (PIPE above)
    try:
        for line in proc.stdout:
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and value.isdigit() and progress is not None:
                progress(min(99, int(int(value) / 1e6 / facts.duration * 100)))
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise TranscodeFailed(f"ffmpeg did not finish within {timeout:.0f} s.") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.seek(0)
        stderr = log.read()[-4000:]
        log.close()
    if proc.returncode != 0:
        last = stderr.strip().splitlines()[-1:] or ["no message"]
        raise TranscodeFailed(f"ffmpeg could not transcode the file ({last[0][:200]}).")
    _ladder_check(out=out, rungs=rungs, duration=facts.duration)


def _ladder_check(*, out: Path, rungs: list[Rung], duration: float) -> None:
    if not (out / MASTER).is_file():
        raise TranscodeFailed("ffmpeg wrote no master playlist.")
    if not (out / SPRITE).is_file():
        raise TranscodeFailed("ffmpeg wrote no thumbnail sprite.")
    for i in range(len(rungs)):
        playlist = out / str(i) / "index.m3u8"
        if not playlist.is_file():
            raise TranscodeFailed(f"ffmpeg wrote no playlist for the {rungs[i].height}p rendition.")
        parsed = m3u8.loads(playlist.read_text())
        seconds = sum(float(segment.duration or 0) for segment in parsed.segments)
        if not parsed.is_endlist or seconds < duration * COMPLETE_SHARE:
            raise TranscodeFailed(
                f"The file holds only {seconds:.0f} s of the {duration:.0f} s its header declares: "
                "it is truncated or damaged."
            )


def _ladder_aligned(*, out: Path, rungs: list[Rung]) -> bool:
    """Every rung's segments have the same durations, so segment N starts on the same frame in each
    (the muxer cuts each rung at its first keyframe past every SEGMENT_SECONDS): a player switches
    rungs at any boundary. The master playlist names every rung."""
    durations = []
    for i in range(len(rungs)):
        parsed = m3u8.loads((out / str(i) / "index.m3u8").read_text())
        durations.append([round(float(segment.duration or 0), 3) for segment in parsed.segments])
    master = m3u8.loads((out / MASTER).read_text())
    return len(master.playlists) == len(rungs) and all(d == durations[0] for d in durations)


def _copied_rung_codecs_write(*, out: Path, top: int, has_audio: bool) -> None:
    """Name the copied rung's CODECS in the master playlist as ffmpeg does the encoded ones' (it
    leaves them out for a copied stream, whose parameters it reads from MP4's avcC form): avc1. and
    the profile, constraint and level bytes of the stream's sequence parameter set, which the first
    segment carries in-band (00 00 01, a NAL of type 7). Left out as before when none is found."""
    with open(out / str(top) / "seg_00000.ts", "rb") as segment:
        head = segment.read(2**20)
    found = re.search(rb"\x00\x00\x01[\x07\x27\x47\x67](.{3})", head, re.DOTALL)
    if found is None:
        return
    master = m3u8.loads((out / MASTER).read_text())
    codecs = f"avc1.{found.group(1).hex()}" + (",mp4a.40.2" if has_audio else "")
    master.playlists[top].stream_info.codecs = codecs
    (out / MASTER).write_text(master.dumps())


def remux_suitable(*, path: Path, facts: SourceFacts, top: Rung) -> bool:
    """The source's video can be the `top` rung as it is (copied, not re-encoded): H.264 in 4:2:0
    at exactly the rung's height, shown unturned, at no more than the rung's peak bitrate, and a
    keyframe on the earliest frame at or after every multiple of SEGMENT_SECONDS (where the encoded
    rungs get theirs: `-force_key_frames`), so the copied stream's segments end where theirs do.
    Read with ffprobe from every packet's time, flags and size (no decoding); any doubt answers
    False (the rung is encoded). ladder_build checks the result's alignment all the same."""
    if (facts.video_codec, facts.pixel_format, facts.turned) != (
        "h264",
        "yuv420p",
        False,
    ) or facts.height != top.height:
        return False
    command = [
        settings.FFPROBE_BINARY,
        "-v",
        "error",
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        DEMUXERS,
        "-select_streams",
        "v:0",
        "-show_entries",
        "packet=pts_time,size,flags",
        "-of",
        "csv=p=0",
        str(path),
    ]
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # noqa: S603
    except FileNotFoundError:
        return False
    assert proc.stdout is not None  # noqa: S101 (PIPE above)
    # Per window k of SEGMENT_SECONDS, its earliest frame (the one the encoded rungs turn into a
    # keyframe) and whether that frame is a keyframe here; memory grows with the duration / 4 s.
    first: dict[int, tuple[float, bool]] = {}
    start: float | None = None
    size = 0
    readable = True
    try:
        for line in proc.stdout:
            # ffprobe's order, whatever the order asked: pts_time, size, flags ("K__" for a keyframe).
            fields = line.strip().split(",")
            try:
                pts, size = float(fields[0]), size + int(fields[1])
            except (ValueError, IndexError):
                readable = False  # a packet without a time: nothing can be predicted
                continue
            start = pts if start is None else start
            at = pts - start
            if at < -1e-6:
                continue  # a leading frame shown before the first keyframe (an open GOP)
            window = int((at + 1e-6) // SEGMENT_SECONDS)
            if window not in first or at < first[window][0]:
                first[window] = (at, "K" in fields[-1])
        proc.wait(timeout=PROBE_SECONDS)
    except subprocess.TimeoutExpired:
        readable = False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if not readable or proc.returncode != 0 or not first:
        return False
    # Every window but the last (which may end before a frame of its own) holds frames, and each
    # window's earliest frame is a keyframe.
    windows = max(1, math.ceil(facts.duration / SEGMENT_SECONDS))
    keyframes_aligned = all(k in first for k in range(windows - 1)) and all(key for _, key in first.values())
    kbps = size * 8 / 1000 / facts.duration
    return keyframes_aligned and kbps <= top.video_kbps * 11 / 10


# --- Members-only delivery: signed ladder URLs that nginx checks (etc/nginx/watchpoint.conf.in) ---
#
# nginx's secure_link module, not auth_request: nginx checks each playlist and segment request by
# itself (an MD5 over the URL's expiry and folder, the request's session cookie and a shared
# secret), so no request reaches Python. The signature covers the ladder's folder, so one URL
# prefix serves the master playlist, every rendition's playlist and segment (the playlists name
# them relatively): nothing is rewritten per member. The session cookie in the hash binds the URL
# to the member's browser session: another account (another cookie) or no cookie gets a 403, as
# does the same browser after logout or a password change (Django gives it a new session key).
LADDER_URL = re.compile(
    r"^(?P<sig>[A-Za-z0-9_-]{22})/(?P<expires>[0-9]{1,12})/(?P<folder>[0-9]+/[0-9a-f]{12})/"
    r"(?P<file>(?:[0-9]+/)?[A-Za-z0-9_.-]+)$"
)


def ladder_signature(*, expires: int, folder: str, session_key: str) -> str:
    """nginx `secure_link_md5 "$expires/$folder $cookie_sessionid <secret>"`, base64url unpadded."""
    text = f"{expires}/{folder} {session_key} {settings.MEDIA_URL_SIGNING_KEY}"
    # MD5 is the one hash secure_link offers; the secret is in the hashed text, never in the URL.
    digest = hashlib.md5(text.encode(), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def ladder_url_sign(*, ladder_path: str, session_key: str, expires: int) -> str:
    """The signed URL of the master playlist of the ladder in `ladder_path` ("hls/<id>/<run>/")."""
    folder = ladder_path.removeprefix("hls/").rstrip("/")
    signature = ladder_signature(expires=expires, folder=folder, session_key=session_key)
    return f"{settings.MEDIA_HLS_URL}{signature}/{expires}/{folder}/{MASTER}"


def ladder_request_check(*, path: str, session_key: str, now: float) -> str | None:
    """The storage name a signed ladder request names, or None when nginx would answer 403
    (bad or foreign signature, expired). Used by the development stand-in for nginx."""
    found = LADDER_URL.match(path)
    if found is None or int(found["expires"]) < now:
        return None
    expected = ladder_signature(expires=int(found["expires"]), folder=found["folder"], session_key=session_key)
    if not hmac.compare_digest(expected, found["sig"]):
        return None
    return f"hls/{found['folder']}/{found['file']}"


def proxy_bucket_policy(*, bucket: str, proxy_cidrs: list[str]) -> dict[str, object]:
    """The S3 bucket policy that lets nginx (MEDIA_STORAGE=s3) read what it serves unsigned:
    anonymous GET of `hls/*` (the ladders: nginx has checked each member's signed URL before it
    asks) and `thumbnails/*` (thumbnails and card images, public on the site's pages), from the
    proxies' addresses only (etc/nginx/watchpoint.conf.in). The sources and everything else stay private."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WatchpointProxyReadsLaddersAndThumbnails",
                "Effect": "Allow",
                "Principal": {"AWS": ["*"]},
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/hls/*", f"arn:aws:s3:::{bucket}/thumbnails/*"],
                "Condition": {"IpAddress": {"aws:SourceIp": proxy_cidrs}},
            }
        ],
    }
