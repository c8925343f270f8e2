"""Chapters and captions (videos/tracks.py): staff's lines and files are checked with messages they
can act on; captions are stored as WebVTT and served only to those who may watch the video."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import MemberFactory, VideoFactory
from videos.models import VideoCaption
from videos.tracks import CAPTION_MAX_BYTES, Chapter, captions_webvtt, chapters_parse

SRT = "1\r\n00:00:01,000 --> 00:00:02,500\r\nHello <i>there</i>\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\nBye\r\n"
VTT = "WEBVTT\n\n00:01.000 --> 00:02.000\nBonjour\n"


def messages(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return " ".join(exc.value.messages)


def test_chapters_read_mm_ss_and_h_mm_ss_lines_in_order():
    text = "0:00 Intro\n\n 1:30  Set-up \n75:00 Long middle\n1:20:05 The end"
    assert chapters_parse(text=text, duration=6000) == [
        Chapter(0, "Intro"),
        Chapter(90, "Set-up"),
        Chapter(4500, "Long middle"),
        Chapter(4805, "The end"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1:7 Intro", "Line 1 (“1:7 Intro”): start with the time as mm:ss or h:mm:ss"),
        ("0:61 Intro", "Line 1"),
        ("Intro 0:10", "Line 1"),
        ("0:10", "Line 1"),
        ("0:00 A\n2:00 B\n1:00 C", "Line 3: 1:00 does not come after the chapter before it (2:00)"),
        ("0:00 A\n0:00 B", "Line 2: 0:00 does not come after"),
        ("0:00 A\n10:00 B", "Line 2: 10:00 is beyond the end of the video (9:59)"),
    ],
)
def test_bad_chapter_lines_get_a_message_naming_the_line(text, message):
    with pytest.raises(ValidationError) as exc:
        chapters_parse(text=text, duration=599)
    assert message in messages(exc)


def test_captions_from_srt_become_webvtt():
    text, cues = captions_webvtt(data=("\ufeff" + SRT).encode())
    assert cues == 2
    assert text == (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nHello <i>there</i>\n\n00:00:03.000 --> 00:00:04.000\nBye\n"
    )


def test_webvtt_captions_are_kept_as_webvtt():
    text, cues = captions_webvtt(data=VTT.encode())
    assert (text, cues) == ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nBonjour\n", 1)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"  \n", "The file is empty."),
        ("WEBVTT\n\n00:01.000 --> 00:02.000\ncaf\u00e9\n".encode("latin-1"), "not UTF-8"),
        (b"just some words", "neither WebVTT"),
        (b"WEBVTT\n\n00:01.000 --> soon\nHi\n", "Line 3 (“00:01.000 --> soon”) is not a cue timing"),
        (b"1\n00:00:01,000 --> 00:00:02\nHi\n", "Line 2"),
        (b"WEBVTT\n\nNOTE nothing here\n", "holds no captions"),
        (
            b"WEBVTT\n\n00:05.000 --> 00:01.000\nBackwards\n",
            "Caption 1 (00:00:05.000 --> 00:00:01.000) ends before it starts",
        ),
        (b"WEBVTT\n\n" + b"x" * CAPTION_MAX_BYTES, "larger than 512 KB"),
    ],
)
def test_a_bad_captions_file_gets_a_clear_message(data, message):
    with pytest.raises(ValidationError) as exc:
        captions_webvtt(data=data)
    assert message in messages(exc)


# --- The admin inline -------------------------------------------------------------------------


def change_form_data(client, video) -> dict:
    """The change page's form as the browser would post it back unchanged (inline included)."""
    response = client.get(f"/admin/videos/video/{video.pk}/change/")
    assert response.status_code == 200
    data: dict[str, object] = {}
    form = response.context["adminform"].form
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if name in ("source", "thumbnail") or value is None or value is False:
            continue
        if isinstance(value, datetime):  # the admin's split date and time inputs
            data[f"{name}_0"], data[f"{name}_1"] = value.date().isoformat(), value.time().strftime("%H:%M:%S")
            continue
        data[name] = "on" if value is True else value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{name}"] = value
        for i, sub in enumerate(formset.initial_forms):
            data[f"{formset.prefix}-{i}-id"] = sub.instance.pk
            data[f"{formset.prefix}-{i}-video"] = video.pk
            for name in ("language", "label"):
                data[f"{formset.prefix}-{i}-{name}"] = getattr(sub.instance, name)
            if sub.instance.is_default:
                data[f"{formset.prefix}-{i}-is_default"] = "on"
    return data


@pytest.fixture
def staff_client(client, db):
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))
    return client


def upload(name: str, text: str | bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode() if isinstance(text, str) else text)


def test_staff_upload_srt_captions_on_the_change_page_and_they_are_stored_as_webvtt(staff_client):
    video: Any = VideoFactory(provider="file", external_id="https://media.example/a.mp4", duration=600)
    data = change_form_data(staff_client, video)
    prefix = "captions-0"
    data.update({f"{prefix}-language": "en", f"{prefix}-label": "English", f"{prefix}-is_default": "on"})
    data[f"{prefix}-file"] = upload("en.srt", SRT)
    data["chapters"] = "0:00 Intro\n1:30 Set-up"

    response = staff_client.post(f"/admin/videos/video/{video.pk}/change/", data)

    assert response.status_code == 302, response.context["errors"] if response.context else ""
    caption = VideoCaption.objects.get(video=video)
    assert (caption.language, caption.label, caption.is_default, caption.cue_count) == ("en", "English", True, 2)
    assert caption.webvtt.startswith("WEBVTT\n\n00:00:01.000 --> 00:00:02.500\n")
    video.refresh_from_db()
    assert [c.title for c in video.chapter_list] == ["Intro", "Set-up"]


def test_a_bad_captions_file_or_chapter_line_is_refused_on_the_page_and_nothing_is_saved(staff_client):
    video: Any = VideoFactory(provider="file", external_id="https://media.example/a.mp4", duration=600, chapters="")
    data = change_form_data(staff_client, video)
    data.update({"captions-0-language": "en", "captions-0-label": "English"})
    data["captions-0-file"] = upload("en.srt", b"\xff\xfe not text")
    data["chapters"] = "0:00 Intro\n12:00 After the end"

    response = staff_client.post(f"/admin/videos/video/{video.pk}/change/", data)

    assert response.status_code == 200
    page = response.content.decode()
    assert "The file is not UTF-8 text" in page
    assert "Line 2: 12:00 is beyond the end of the video (10:00)." in page
    assert not VideoCaption.objects.exists()
    video.refresh_from_db()
    assert video.chapters == ""


def test_only_one_captions_language_is_the_default_and_staff_can_move_it(staff_client):
    video: Any = VideoFactory(provider="file", external_id="https://media.example/a.mp4")
    english = VideoCaption.objects.create(video=video, language="en", label="English", is_default=True, webvtt=VTT)
    data = change_form_data(staff_client, video)
    data.update({"captions-1-language": "fr", "captions-1-label": "Français", "captions-1-is_default": "on"})
    data["captions-1-file"] = upload("fr.vtt", VTT)

    response = staff_client.post(f"/admin/videos/video/{video.pk}/change/", data)
    assert response.status_code == 200
    assert "Only one captions language can be the default" in response.content.decode()
    assert VideoCaption.objects.count() == 1

    del data["captions-0-is_default"]  # staff untick English: French becomes the default
    data["captions-1-file"] = upload("fr.vtt", VTT)
    response = staff_client.post(f"/admin/videos/video/{video.pk}/change/", data)
    assert response.status_code == 302
    assert list(VideoCaption.objects.filter(is_default=True).values_list("language", flat=True)) == ["fr"]
    english.refresh_from_db()
    assert not english.is_default


# --- Members get the captions; nobody else does ------------------------------------------------


@pytest.mark.django_db
def test_members_get_the_captions_as_webvtt_and_others_get_a_404(client):
    video: Any = VideoFactory(provider="file", external_id="https://media.example/a.mp4", members_only=True)
    caption = VideoCaption.objects.create(video=video, language="en", label="English", webvtt=VTT)
    url = caption.get_absolute_url()

    assert client.get(url).status_code == 404  # anonymous
    client.force_login(MemberFactory())
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/vtt; charset=utf-8"
    assert response["Cache-Control"] == "private, max-age=3600"
    assert response.content.decode() == VTT
    other: Any = VideoFactory(provider="file", external_id="https://media.example/b.mp4", members_only=True)
    assert client.get(f"/videos/{other.pk}/captions/{caption.pk}.vtt").status_code == 404


@pytest.mark.django_db
def test_the_watch_page_lists_chapters_as_links_and_gives_the_player_its_tracks(client):
    video: Any = VideoFactory(
        provider="file",
        external_id="https://media.example/a.mp4",
        members_only=False,
        duration=300,
        chapters="0:00 Intro\n2:05 Demo",
    )
    VideoCaption.objects.create(video=video, language="en", label="English", is_default=True, webvtt=VTT)

    page = client.get(video.get_absolute_url()).content.decode()

    assert '<a href="?t=125" data-chapter-seek="125">' in page
    caption = VideoCaption.objects.get()
    assert (
        'data-tracks="{&quot;captions&quot;:[{&quot;src&quot;:&quot;'
        f"{caption.get_absolute_url()}&quot;,&quot;lang&quot;:&quot;en&quot;"
    ) in page
    assert "&quot;chapters&quot;:[{&quot;start&quot;:0,&quot;title&quot;:&quot;Intro&quot;}" in page
