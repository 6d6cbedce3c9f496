"""Where a webhook may be sent: the rules for an endpoint's URL and for the address it resolves to.

An endpoint's URL is checked when it is saved (``url_problem``: no DNS look-up
there, so saving never reaches the network) and the address it resolves to is
checked again at every connect (``address_problem``), so a name that later
resolves somewhere internal is refused when it matters. Refused: every address
that is not globally routable — loopback, private, link-local, carrier-grade NAT
(100.64.0.0/10), unique-local (fc00::/7), unspecified, reserved, multicast —
and IPv4-mapped IPv6 addresses are judged by the IPv4 address they hold.
``allow_private`` (``BENEFITS_WEBHOOK_ALLOW_PRIVATE=1``: tests, closed
networks) allows such addresses and plain ``http``.
"""
import ipaddress
from urllib.parse import urlsplit

MAX_URL = 2000
UNREACHABLE = "webhooks may not reach it"
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def address_problem(address: str, *, allow_private: bool) -> str | None:
    """Why a connection to ``address`` (an IP address) is refused, or None when it is allowed."""
    if allow_private:
        return None
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        for embedded in (ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None):
            if embedded is not None and (problem := address_problem(str(embedded), allow_private=False)):
                return f"{ip} holds {problem}"
    if not ip.is_global or ip.is_multicast:
        kind = next((name for name, holds in (
            ("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
            ("carrier-grade NAT", ip in ipaddress.ip_network("100.64.0.0/10")),
            ("unique-local", ip in ipaddress.ip_network("fc00::/7")), ("private", ip.is_private),
            ("multicast", ip.is_multicast)) if holds), "not globally routable")
        return f"{ip} is {kind}: {UNREACHABLE}"
    return None


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """Why an endpoint cannot have this URL, or None: https (http too with ``allow_private``), a host, no user
    or password, no fragment, and no address or local name that ``address_problem`` refuses."""
    if len(url) > MAX_URL:
        return f"must be at most {MAX_URL} characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return f"is not a URL: {error}"
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        return "must be an https URL" if not allow_private else "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not hold a user or password (the signature authenticates the sender)"
    if parts.fragment:
        return "must not have a fragment (#...)"
    if port == 0:
        return "must not name port 0"
    if not allow_private:
        host = parts.hostname.rstrip(".").lower()
        if host in LOCAL_NAMES or host.endswith(".localhost"):
            return f"{host} is this machine: {UNREACHABLE}"
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return None  # a name: its addresses are checked at every connect
        if (problem := address_problem(host, allow_private=False)) is not None:
            return problem
    return None
