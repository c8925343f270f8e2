"""Static files storage: WhiteNoise's hashed, compressed files, tolerant of vendored source maps."""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Hashed names + gzip/brotli copies, made by `collectstatic`.

    Vendored minified libraries (static/vendor/, bin/vendor-static) end with a
    `//# sourceMappingURL=` comment naming a .map file we do not ship; Django would fail
    collectstatic trying to hash it. Rewriting only matters for maps we serve, so JS files keep
    their comment untouched (browsers just do not find the map); CSS rewriting stays on.
    """

    patterns = tuple(p for p in CompressedManifestStaticFilesStorage.patterns if p[0] != "*.js")
