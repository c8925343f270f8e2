"""The analytics management commands' progress bars (tqdm on stderr) and summaries."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command

from analytics.drain import watch_batches_store
from analytics.stream import STREAM, stream_client
from tests.analytics.rollup_oracle import day_start_ms, session_batches, today
from tests.conftest import CASSANDRA_DBS
from tests.factories import VideoFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(databases=CASSANDRA_DBS, transaction=True)]


def test_the_rebuild_command_counts_its_steps_to_the_end(capsys):
    video = VideoFactory(duration=60)
    watch_batches_store(batches=session_batches(8_200_001, video.pk, list(range(30)), start_ms=day_start_ms(today())))

    call_command("rollups_rebuild", video=[video.pk], days=2)

    out, err = capsys.readouterr()
    # Two video-days and the video's all-time figures.
    assert re.search(r"rebuild: 100%.* 3/3 ", err), err
    assert out.startswith("rebuilt 2 video-days of 1 videos from 30 raw events")


def test_the_traffic_generator_counts_sessions_to_the_end(capsys):
    stream_client().flushdb()
    VideoFactory(duration=120)

    call_command("watch_traffic_generate", members=2, sessions=4, days=1)

    out, err = capsys.readouterr()
    assert re.search(r"100%.* 4/4 ", err), err
    assert re.fullmatch(r"queued [\d,]+ events in (\d+) batches from 4 sessions\n", out), out
    assert stream_client().xlen(STREAM) == int(re.findall(r"in (\d+) batches", out)[0])
    stream_client().flushdb()  # the drain task it queued: no worker here
