"""Base-URL validation: metadata and link-local never, private ranges only when allowed."""

from __future__ import annotations

import pytest

from orchestra.providers.registry import ConfigFile, provider_configs
from orchestra.transport.ssrf import UnsafeBaseURL, validate_base_url

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


# Hosts that getaddrinfo reads the way inet_aton does: hex, octal and short forms.
INET_ATON_METADATA = [
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://0xa9.254.169.254/",
    "http://0251.0376.0251.0376/",
    "http://169.254.43518/",  # a.b.c: the last part fills 16 bits
    "http://169.16689662/",  # a.b: the last part fills 24 bits
    "http://0XA9.0XFE.0XA9.0XFE./",  # upper case, trailing dot
]
INET_ATON_LOOPBACK = ["http://0x7f.0.0.1:8000/v1", "http://127.1:8000/v1", "http://0177.0.0.1/"]
NOT_AN_ADDRESS = [
    "http://08.1.1.1/",
    "http://256.1.1.1/",
    "http://1.16777216/",
    "http://1.2.3.4.5/",
]


@pytest.mark.parametrize("url", INET_ATON_METADATA)
@pytest.mark.parametrize("allow_private", [False, True])
def test_inet_aton_spellings_of_metadata_are_refused(url, allow_private):
    with pytest.raises(UnsafeBaseURL) as caught:
        validate_base_url(url, allow_private=allow_private)
    assert caught.value.rule == "metadata"


@pytest.mark.parametrize("url", INET_ATON_LOOPBACK)
def test_inet_aton_spellings_of_loopback_need_the_opt_in(url):
    with pytest.raises(UnsafeBaseURL) as caught:
        validate_base_url(url, allow_private=False)
    assert caught.value.rule == "private"


@pytest.mark.parametrize("url", NOT_AN_ADDRESS)
@pytest.mark.parametrize("allow_private", [False, True])
def test_a_host_ending_in_a_number_must_be_a_valid_address(url, allow_private):
    with pytest.raises(UnsafeBaseURL) as caught:
        validate_base_url(url, allow_private=allow_private)
    assert caught.value.rule == "malformed_host"


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://100.100.100.200/", "metadata"),  # Alibaba Cloud
        ("http://[2002:a9fe:a9fe::1]/", "metadata"),  # 6to4 of 169.254.169.254
        ("http://[2002:a9fe:0101::]/", "link_local"),  # 6to4 of 169.254.1.1
        ("http://[64:ff9b::a9fe:a9fe]/", "metadata"),  # NAT64 of 169.254.169.254
        ("http://[fd00:ec2::254%25eth0]/", "metadata"),  # with a zone
        ("http://[fe80::1%25eth0]/", "link_local"),
        ("http://[fe80::zz]/", "malformed_host"),
        ("http://api.example.com:99999/", "malformed_host"),
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_other_metadata_and_embedded_link_local_forms_are_refused(url, rule, allow_private):
    with pytest.raises(UnsafeBaseURL) as caught:
        validate_base_url(url, allow_private=allow_private)
    assert caught.value.rule == rule


def test_names_that_merely_look_hex_are_names():
    assert validate_base_url("https://cafe.de/v1", allow_private=False) == "https://cafe.de/v1"
    assert validate_base_url("https://1.2.3.example/v1", allow_private=False)


def test_a_refused_provider_url_names_the_provider_the_url_and_the_rule():
    file = ConfigFile.model_validate(
        {"providers": [{"name": "evil", "type": "openai", "base_url": "http://0xa9.254.169.254/"}]}
    )
    with pytest.raises(UnsafeBaseURL) as caught:
        provider_configs({}, file, allow_private=False)
    error = caught.value
    assert (error.provider, error.url, error.rule) == (
        "evil",
        "http://0xa9.254.169.254/",
        "metadata",
    )
