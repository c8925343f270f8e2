from __future__ import annotations

from django.db import models
from django.urls import reverse


class Video(models.Model):
    """A video in the catalogue, hosted by a provider (or a self-hosted file) and embedded here."""

    class Provider(models.TextChoices):
        YOUTUBE = "youtube", "YouTube"
        VIMEO = "vimeo", "Vimeo"
        WISTIA = "wistia", "Wistia"
        FILE = "file", "Self-hosted file"

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)
    description = models.TextField(blank=True)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    # Canonical provider id (e.g. YouTube's 11-character id); for self-hosted files, the file URL.
    external_id = models.CharField(max_length=500)
    # Seconds. Staff may set it; otherwise the first real player report fills it once.
    duration = models.PositiveIntegerField(null=True, blank=True)
    is_published = models.BooleanField(default=False)
    members_only = models.BooleanField(default=True)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-published_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=("provider", "external_id"), name="video_unique_source"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("videos:watch", kwargs={"slug": self.slug})
