"""Where a Slack file may be fetched from with the bot token, and its size checked first."""

from __future__ import annotations

import pytest

from minibot.adapters.messaging.slack.slack_files import attachment_of, download_url
from minibot.core.errors import MediaServiceFailed, MediaTooLarge
from minibot.core.media import MediaKind

API = "https://slack.com/api/"


def test_slacks_file_host_is_fetched() -> None:
    url = "https://files.slack.com/files-pri/T1-F1/download/a.pdf"
    assert download_url({"size": 10, "url_private_download": url}, API, max_bytes=100) == url


def test_a_download_address_outside_slack_gets_no_token() -> None:
    info = {"size": 10, "url_private_download": "https://evil.example/steal"}
    with pytest.raises(MediaServiceFailed, match="outside Slack"):
        download_url(info, API, max_bytes=100)


def test_a_file_slack_says_is_too_large_is_refused_before_download() -> None:
    info = {"size": 5_000_000, "url_private_download": "https://files.slack.com/x"}
    with pytest.raises(MediaTooLarge, match=r"That file is 5\.0 MB"):
        download_url(info, API, max_bytes=100)


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        ({"subtype": "slack_audio", "mimetype": "video/mp4"}, MediaKind.VOICE),
        ({"subtype": "slack_video", "mimetype": "video/mp4"}, MediaKind.VIDEO_NOTE),
        ({"mimetype": "audio/mpeg"}, MediaKind.AUDIO),
        ({"mimetype": "image/png"}, MediaKind.PHOTO),
        ({"mimetype": "application/pdf"}, MediaKind.DOCUMENT),
    ],
)
def test_each_kind_of_slack_file_is_read_as_its_media_kind(
    item: dict[str, str], kind: MediaKind
) -> None:
    media = attachment_of({"files": [{"id": "F1", "name": "f", **item}]})
    assert media is not None and media.kind is kind


def test_a_files_placeholder_is_not_read() -> None:
    assert attachment_of({"files": [{"id": "F1", "mode": "tombstone"}]}) is None
