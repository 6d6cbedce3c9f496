"""Where a webhook may be sent, table-driven: the address checked at every connect, the URL when it is saved."""
import pytest

from benefits.destinations import address_problem, url_problem


@pytest.mark.parametrize("address, problem", [
    ("127.0.0.1", "127.0.0.1 is loopback"),
    ("::1", "::1 is loopback"),
    ("10.0.0.1", "10.0.0.1 is private"),
    ("172.16.5.4", "172.16.5.4 is private"),
    ("192.168.1.1", "192.168.1.1 is private"),
    ("169.254.169.254", "169.254.169.254 is link-local"),  # a cloud's metadata service
    ("fe80::1%eth0", "fe80::1 is link-local"),
    ("100.64.0.1", "100.64.0.1 is carrier-grade NAT"),
    ("fd12:3456::1", "fd12:3456::1 is unique-local"),
    ("::ffff:10.0.0.1", "::ffff:a00:1 holds 10.0.0.1 is private"),  # IPv4-mapped
    ("2002:7f00:1::", "2002:7f00:1:: holds 127.0.0.1 is loopback"),  # 6to4 around a loopback address
    ("0.0.0.0", "0.0.0.0 is private"),
    ("224.0.0.1", "224.0.0.1 is multicast"),
    ("8.8.8.8", None),
    ("2001:4860:4860::8888", None),
])
def test_only_globally_routable_addresses_are_reached(address, problem):
    found = address_problem(address, allow_private=False)
    assert (found.removesuffix(": webhooks may not reach it") if found else None) == problem
    assert address_problem(address, allow_private=True) is None


@pytest.mark.parametrize("url, problem", [
    ("https://crm.bank.example/hooks?source=benefits", None),
    ("https://crm.bank.example:8443/hooks", None),
    ("https://127.1/hooks", None),  # a name here; it resolves to 127.0.0.1 and is refused when connecting
    ("http://crm.bank.example/hooks", "must be an https URL"),
    ("ftp://crm.bank.example/", "must be an https URL"),
    ("https:///hooks", "must name a host"),
    ("https://[::1/hooks", "is not a URL: Invalid IPv6 URL"),
    ("https://crm.bank.example:99999/", "is not a URL: Port out of range 0-65535"),
    ("https://crm.bank.example:0/", "must not name port 0"),
    ("https://user:secret@crm.bank.example/", "must not hold a user or password (the signature authenticates the "
                                              "sender)"),
    ("https://crm.bank.example/#top", "must not have a fragment (#...)"),
    ("https://LOCALHOST./", "localhost is this machine: webhooks may not reach it"),
    ("https://api.localhost/", "api.localhost is this machine: webhooks may not reach it"),
    ("https://169.254.169.254/latest/meta-data", "169.254.169.254 is link-local: webhooks may not reach it"),
    ("https://[::ffff:127.0.0.1]/", "::ffff:7f00:1 holds 127.0.0.1 is loopback: webhooks may not reach it"),
])
def test_an_endpoint_url_is_https_to_a_host_outside_the_bank(url, problem):
    assert url_problem(url, allow_private=False) == problem


def test_allowing_private_addresses_allows_http_and_loopback():
    assert url_problem("http://127.0.0.1:8080/hooks", allow_private=True) is None
    assert url_problem("ftp://127.0.0.1/", allow_private=True) == "must be an http or https URL"
