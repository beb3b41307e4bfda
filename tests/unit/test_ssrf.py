"""Base-URL validation: metadata and link-local never, private ranges only when allowed."""

from __future__ import annotations

import pytest

from orchestra.providers.ssrf import UnsafeBaseURL, validate_base_url

ALWAYS_REFUSED = [
    "http://169.254.169.254/latest/meta-data",
    "http://[fd00:ec2::254]/latest",
    "http://metadata.google.internal/computeMetadata/v1",
    "http://2852039166/",  # 169.254.169.254 as a decimal integer
    "http://0xa9fea9fe/",  # ... and as hex
    "http://[::ffff:169.254.169.254]/",  # IPv4-mapped IPv6
    "http://169.254.1.1:8080/v1",
    "http://0.0.0.0/v1",
    "file:///etc/passwd",
    "gopher://example.com/",
    "https://user:pass@api.example.com/v1",
    "not a url",
]
PRIVATE = [
    "http://127.0.0.1:11434/v1",
    "http://localhost:8000/v1",
    "http://10.0.3.7/v1",
    "https://192.168.1.10/v1",
    "http://[::1]:8000/v1",
]


@pytest.mark.parametrize("url", ALWAYS_REFUSED)
@pytest.mark.parametrize("allow_private", [False, True])
def test_metadata_and_link_local_are_always_refused(url, allow_private):
    with pytest.raises(UnsafeBaseURL):
        validate_base_url(url, allow_private=allow_private)


@pytest.mark.parametrize("url", PRIVATE)
def test_private_ranges_need_an_explicit_opt_in(url):
    with pytest.raises(UnsafeBaseURL, match=r"private|this machine|http"):
        validate_base_url(url, allow_private=False)
    assert validate_base_url(url, allow_private=True) == url.rstrip("/")


def test_public_https_is_fine_and_trailing_slash_goes():
    assert validate_base_url("https://api.openai.com/v1/", allow_private=False) == (
        "https://api.openai.com/v1"
    )


def test_plain_http_to_a_public_host_is_refused_in_aws():
    with pytest.raises(UnsafeBaseURL, match="plain http"):
        validate_base_url("http://api.example.com/v1", allow_private=False)


def test_unsafe_url_is_a_400_in_openai_shape():
    with pytest.raises(UnsafeBaseURL) as caught:
        validate_base_url("http://169.254.169.254/", allow_private=True)
    assert caught.value.status == 400
    assert caught.value.to_body()["error"]["code"] == "unsafe_base_url"
