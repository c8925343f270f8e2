"""Uploaded thumbnails: read by their content (not their name), then re-encoded so only pixels are kept.

Staff upload the image; members' browsers load it from /media/. A file named .png may be SVG or
HTML (script in our origin if ever served with the wrong type), a polyglot with HTML appended after
the image data, or an image with EXIF (camera, GPS) inside. `thumbnail_validate` refuses anything that
Pillow does not decode as a JPEG, PNG or WebP within the size limits; `thumbnail_reencode` writes a
new file of the same format from the decoded pixels, so nothing that rode along is stored.
"""

from __future__ import annotations

import io
import warnings
from pathlib import PurePath
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_THUMBNAIL_BYTES = 5 * 1024 * 1024
MAX_THUMBNAIL_SIDE = 4096
# Pillow format name -> the extension the stored file gets (a JPEG named .png is renamed .jpg).
FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
# What each format's encoder takes; anything else (e.g. a CMYK WebP) is converted first.
SAVE_MODES = {
    "JPEG": {"L", "RGB", "CMYK"},
    "PNG": {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"},
    "WEBP": {"RGB", "RGBA"},
}
SAVE_OPTIONS: dict[str, dict[str, Any]] = {"JPEG": {"quality": 90}, "PNG": {}, "WEBP": {"quality": 90}}

NOT_AN_IMAGE = "The thumbnail must be a JPEG, PNG or WebP image (this file is not one, whatever its name says)."


def _size(file: Any) -> int:
    size = getattr(file, "size", None)
    if isinstance(size, int):
        return size
    file.seek(0, io.SEEK_END)
    end = int(file.tell())
    file.seek(0)
    return end


def thumbnail_open(file: IO[bytes] | Any) -> Image.Image:
    """The decoded image in `file`; ValidationError (a sentence for the form) when it is not a JPEG,
    PNG or WebP of at most MAX_THUMBNAIL_BYTES and MAX_THUMBNAIL_SIDE pixels a side."""
    if _size(file) > MAX_THUMBNAIL_BYTES:
        raise ValidationError(f"The thumbnail is larger than {MAX_THUMBNAIL_BYTES // (1024 * 1024)} MB.")
    file.seek(0)
    try:
        with warnings.catch_warnings():
            # A decompression-bomb warning is a refusal here, not a log line.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # formats=: only these decoders ever see the bytes (no EPS/Ghostscript, no PSD, ...).
            image = Image.open(file, formats=list(FORMATS))
            # Only the header is read so far: refuse huge dimensions before decoding any pixels.
            too_large = image.width > MAX_THUMBNAIL_SIDE or image.height > MAX_THUMBNAIL_SIDE
            if not too_large:
                image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        raise ValidationError(NOT_AN_IMAGE) from None
    except Image.DecompressionBombWarning:
        too_large = True
    if too_large:
        raise ValidationError(f"The thumbnail may be at most {MAX_THUMBNAIL_SIDE} by {MAX_THUMBNAIL_SIDE} pixels.")
    if image.format not in FORMATS:
        raise ValidationError(NOT_AN_IMAGE)
    return image


def thumbnail_validate(value: Any) -> None:
    """Model-field validator: a newly uploaded thumbnail must decode and re-encode (so that saving it
    cannot fail later). Files already stored were re-encoded when saved; they are not re-read."""
    if not value or getattr(value, "_committed", True):
        return
    thumbnail_reencode(value)
    value.seek(0)


def thumbnail_reencode(file: Any) -> ContentFile[bytes]:
    """A new file of the same format holding only the decoded pixels (EXIF, comments, text chunks
    and anything appended after the image data are left behind), oriented as EXIF said."""
    image = thumbnail_open(file)
    image_format = str(image.format)
    try:
        # Camera JPEGs are stored sideways with an orientation tag; dropping EXIF must not turn them.
        image = ImageOps.exif_transpose(image)
        kept: dict[str | tuple[int, int], Any] = {k: image.info[k] for k in ("transparency",) if k in image.info}
        if image.mode not in SAVE_MODES[image_format]:
            has_alpha = image.mode in {"RGBA", "LA", "PA"} or "transparency" in kept
            image = image.convert("RGBA" if has_alpha and image_format != "JPEG" else "RGB")
            kept = {}
        else:
            image = image.copy()
        image.info = kept
        out = io.BytesIO()
        image.save(out, format=image_format, **SAVE_OPTIONS[image_format], **{str(k): v for k, v in kept.items()})
    except (OSError, SyntaxError, ValueError, TypeError, KeyError, EOFError):
        # Pillow's decoders and EXIF reader raise these on malformed input.
        raise ValidationError(NOT_AN_IMAGE) from None
    stem = PurePath(str(getattr(file, "name", "") or "thumbnail")).stem or "thumbnail"
    return ContentFile(out.getvalue(), name=stem + FORMATS[image_format])
