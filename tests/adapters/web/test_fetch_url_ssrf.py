"""fetch_url cannot reach inside: URLs against a loopback canary that must see no request."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from minibot.adapters.web.pinned_fetcher import PinnedFetcher
from minibot.adapters.web.web_reader import PinnedWebReader
from minibot.core.errors import AddressRefused, ToolError
from minibot.core.web import WebRules
from tests.fakes.web_server import LoopbackSite, ScriptedResolver

PUBLIC = "93.184.215.14"  # a public address (never connected to by these tests)

# {p}: the canary's port. Every URL must be refused before any connection is made.
REFUSED = [
    "http://127.0.0.1:{p}/",
    "https://127.0.0.1:{p}/",
    "http://localhost:{p}/",
    "http://LOCALHOST:{p}/",
    "http://localhost.:{p}/",
    "http://app.localhost:{p}/",
    "http://ip6-localhost:{p}/",
    "http://2130706433:{p}/",
    "http://0x7f000001:{p}/",
    "http://0x7f.0x0.0x0.0x1:{p}/",
    "http://017700000001:{p}/",
    "http://0177.0.0.1:{p}/",
    "http://127.1:{p}/",
    "http://127.0.1:{p}/",
    "http://127.255.255.254:{p}/",
    "http://0.0.0.0:{p}/",
    "http://0:{p}/",
    "http://[::1]:{p}/",
    "http://[0:0:0:0:0:0:0:1]:{p}/",
    "http://[::ffff:127.0.0.1]:{p}/",
    "http://[::ffff:7f00:1]:{p}/",
    "http://[::127.0.0.1]:{p}/",
    "http://[2002:7f00:1::]:{p}/",
    "http://[64:ff9b::7f00:1]:{p}/",
    "http://[::]:{p}/",
    "http://10.0.0.1:{p}/",
    "http://172.16.0.1:{p}/",
    "http://192.168.1.1:{p}/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",
    "http://100.100.100.200/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://0xa9fea9fe/latest/meta-data/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://printer.local/",
    "http://intranet:{p}/",
    "ftp://example.com/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:{p}/",
    "http://user:pw@example.com/",
    # Names whose DNS answers point inside (the scripted resolver's answers).
    "http://evil.test:{p}/",
    "http://evil6.test:{p}/",
    "http://mapped.test:{p}/",
    "http://mixed.test:{p}/",
    "http://private.test/",
]
ANSWERS = {
    "evil.test": [["127.0.0.1"]],
    "evil6.test": [["::1"]],
    "mapped.test": [["::ffff:127.0.0.1"]],
    "mixed.test": [[PUBLIC, "127.0.0.1"]],
    "private.test": [["10.1.2.3"]],
    "rebind.test": [[PUBLIC], ["127.0.0.1"]],
}


@pytest.fixture
async def canary() -> AsyncIterator[LoopbackSite]:
    site = LoopbackSite()
    await site.start()
    yield site
    await site.stop()


@pytest.fixture
async def allowed() -> AsyncIterator[LoopbackSite]:
    """The one private service the owner allows, redirecting to places it should not."""
    site = LoopbackSite({"/page": (200, {"Content-Type": "text/html"}, b"<title>Home</title>hi")})
    await site.start()
    yield site
    await site.stop()


def fetcher(resolver: ScriptedResolver, *allowed_hosts: str, timeout: float = 5) -> PinnedFetcher:
    rules = WebRules(allowed_hosts=allowed_hosts, timeout_seconds=timeout, max_redirects=3)
    return PinnedFetcher(resolver, rules)


@pytest.mark.parametrize("template", REFUSED)
async def test_a_url_that_leads_inside_is_refused_before_connecting(
    template: str, canary: LoopbackSite
) -> None:
    resolver = ScriptedResolver(ANSWERS)
    url = template.format(p=canary.port)
    with pytest.raises(AddressRefused) as refused:
        await fetcher(resolver).get(url)
    assert refused.value.reason, "the refusal says why"
    assert canary.requests == [], f"{url} reached the canary"


def test_the_table_has_at_least_forty_cases() -> None:
    assert len(REFUSED) >= 40


async def test_the_canary_counts_a_request_that_is_let_through(canary: LoopbackSite) -> None:
    # The control: with the canary allowed, a fetch reaches it (so a 0 above means refused).
    page = await fetcher(ScriptedResolver(), f"127.0.0.1:{canary.port}").get(canary.url + "/x")
    assert page.body == b"canary"
    assert canary.requests == ["/x"]


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{p}/",
        "http://localhost:{p}/",
        "http://2130706433:{p}/",
        "http://[::ffff:127.0.0.1]:{p}/",
        "http://evil.test:{p}/",
        "http://169.254.169.254/",
    ],
)
async def test_a_redirect_from_an_allowed_host_is_checked_again(
    target: str, canary: LoopbackSite, allowed: LoopbackSite
) -> None:
    allowed.pages["/go"] = (302, {"Location": target.format(p=canary.port)}, b"")
    fetch = fetcher(ScriptedResolver(ANSWERS), f"127.0.0.1:{allowed.port}")
    with pytest.raises(AddressRefused):
        await fetch.get(f"{allowed.url}/go")
    assert allowed.requests == ["/go"]
    assert canary.requests == []


async def test_a_dns_answer_that_changes_between_lookups_is_never_asked_twice(
    canary: LoopbackSite,
) -> None:
    # rebind.test answers a public address first, then loopback: a fetcher that looked
    # the name up again to connect would reach the canary.
    resolver = ScriptedResolver(ANSWERS)
    with pytest.raises(ToolError):
        await fetcher(resolver, timeout=1.0).get(f"http://rebind.test:{canary.port}/")
    assert resolver.lookups == ["rebind.test"], "one lookup, and the connection used it"
    assert canary.requests == []


async def test_allowed_hosts_lets_exactly_one_private_service_through(
    canary: LoopbackSite, allowed: LoopbackSite
) -> None:
    resolver = ScriptedResolver({"home.test": [["127.0.0.1"]]})
    fetch = fetcher(resolver, f"127.0.0.1:{allowed.port}")
    page = await PinnedWebReader(fetch).read(f"{allowed.url}/page")
    assert (page.title, page.text, page.status) == ("Home", "hi", 200)
    for other in (
        f"http://127.0.0.1:{canary.port}/",  # the same host on another port
        f"http://localhost:{allowed.port}/page",  # the same service by another name
        f"http://home.test:{allowed.port}/page",  # or a name that resolves to it
    ):
        with pytest.raises(AddressRefused):
            await fetch.get(other)
    assert canary.requests == []
    assert allowed.requests == ["/page"]


async def test_redirects_past_the_cap_are_refused(allowed: LoopbackSite) -> None:
    allowed.pages["/loop"] = (302, {"Location": "/loop"}, b"")
    with pytest.raises(ToolError, match="more than 3 redirects"):
        await fetcher(ScriptedResolver(), f"127.0.0.1:{allowed.port}").get(f"{allowed.url}/loop")
    assert len(allowed.requests) == 4
