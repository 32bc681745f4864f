"""fetch_url: fetch a web page and return its main text.

The hub runs inside an operator's network, so a URL chosen by a caller must not reach
anything that network hides (SSRF). The defences, in the order a request meets them:

- only ``http``/``https`` URLs without user info;
- the host is resolved here (``socket.getaddrinfo``) and *every* address it resolves to
  must be public: private, loopback, link-local, multicast, reserved, unspecified,
  shared (CGNAT, 100.64.0.0/10) and otherwise non-global addresses are refused, and so
  are IPv4 addresses embedded in IPv6 ones (IPv4-mapped, 6to4, Teredo, NAT64). Numeric
  spellings of a host (``2130706433``, ``0x7f.1``, ``127.1``) are normalised by the
  resolver, and it is the resolved address that is checked;
- the connection goes to the address that was checked, not to a second lookup of the
  name (DNS rebinding): the request URL carries the vetted IP while the ``Host`` header
  and the TLS server name (SNI and certificate check, httpx's ``sni_hostname``
  extension) carry the real name;
- redirects are followed here, at most ``MAX_REDIRECTS`` hops, each one checked again;
- environment proxies are ignored (a proxy would resolve the name itself);
- the body is capped at ``FETCH_URL_MAX_BYTES`` after decompression (decompressed here
  in bounded steps, so a small compressed bomb cannot expand in memory), and the whole
  fetch, redirects included, at ``FETCH_URL_TIMEOUT`` seconds. The deadline is checked
  between reads and each read may wait at most the time that was left when its request
  started, so a server that stalls mid-body is stopped within about twice the limit
  (the service's own tool timeout stays the outer bound).

``FETCH_URL_ALLOWED_NETWORKS`` lets an operator open specific non-public ranges (an
intranet wiki). Cloud metadata addresses stay refused even inside an allowed range:
they hand out credentials and no page worth fetching lives there.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import time
import zlib
from dataclasses import dataclass

import httpx2
from django.conf import settings
from pydantic import BaseModel, Field

from tools.base import Annotations, Mode, Tool, ToolContext, ToolError
from tools.lazy import lazy_module

trafilatura = lazy_module("trafilatura")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_REDIRECTS = 5
PROGRESS_STEP = 64 * 1024  # bytes between progress reports
USER_AGENT = "mcpsite-fetch_url/1.0 (+https://modelcontextprotocol.io)"
HTML_TYPES = {"text/html", "application/xhtml+xml"}
TEXT_TYPES = {"application/json", "application/xml", "application/javascript", "application/x-ndjson"}

# Instance metadata services of the big clouds. Most are link-local or private anyway;
# they are named so that the refusal says what was at stake, and so that no allowed
# range can open them.
METADATA_ADDRESSES = {
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS DNS resolver
        "169.254.169.123",  # AWS time sync
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "fd00:ec2::254",  # AWS over IPv6
        "fd00:ec2::23",  # AWS time sync over IPv6
    )
}
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # CGNAT (RFC 6598)
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL_PREFIX = ipaddress.ip_network("64:ff9b:1::/48")


# --- Address checks ------------------------------------------------------------------


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses that an IPv6 address carries and that a router would reach."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in NAT64_PREFIX or address in NAT64_LOCAL_PREFIX:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _kind(address: IPAddress) -> str | None:
    """Why an address is not public, or None when it is."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in SHARED_ADDRESS_SPACE:
        return "a shared (CGNAT) address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


def address_refusal(address: IPAddress, allowed: list[IPNetwork]) -> str | None:
    """The reason ``address`` may not be fetched, or None when it may."""
    embedded = embedded_ipv4(address)
    for candidate in [address, *embedded]:
        if candidate in METADATA_ADDRESSES:
            return f"{address} is a cloud metadata address" if candidate == address else (
                f"{address} embeds {candidate}, which is a cloud metadata address"
            )

    def is_allowed(candidate: IPAddress) -> bool:
        return any(candidate.version == net.version and candidate in net for net in allowed)

    if is_allowed(address):
        return None
    # An IPv4-mapped or NAT64 address is its IPv4 address by another name (a DNS64
    # resolver hands out the latter for every public host): judge the IPv4 address.
    translated = isinstance(address, ipaddress.IPv6Address) and (
        address.ipv4_mapped is not None or address in NAT64_PREFIX
    )
    for candidate in embedded if translated else [*embedded, address]:
        if is_allowed(candidate):
            continue
        kind = _kind(candidate)
        if kind is not None:
            if candidate == address:
                return f"{address} is {kind}"
            return f"{address} embeds {candidate}, which is {kind}"
    return None


def allowed_networks() -> list[IPNetwork]:
    networks = []
    for cidr in settings.FETCH_URL_ALLOWED_NETWORKS:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ToolError(f"FETCH_URL_ALLOWED_NETWORKS holds {cidr!r}, which is not a CIDR range.") from None
    return networks


def _is_name(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


@dataclass(frozen=True)
class Target:
    """A URL that passed the checks, with the addresses it may be fetched from."""

    url: httpx2.URL
    host: str  # ASCII (IDNA) host name, as sent in Host and SNI
    addresses: list[IPAddress]


def url_check(raw_url: str | httpx2.URL, *, allowed: list[IPNetwork]) -> Target:
    """Parse, resolve and vet a URL; raise ``ToolError`` saying why it is refused."""
    try:
        url = raw_url if isinstance(raw_url, httpx2.URL) else httpx2.URL(raw_url)
    except (httpx2.InvalidURL, TypeError, ValueError) as exc:
        raise ToolError(f"refused: {raw_url!s} is not a valid URL ({exc}).") from None
    if url.scheme not in ("http", "https"):
        raise ToolError(f"refused: only http and https URLs can be fetched, not {url.scheme or 'a relative'!s} URLs.")
    if url.userinfo:
        raise ToolError("refused: URLs with a user name or password are not fetched.")
    host = url.raw_host.decode("ascii")
    if not host:
        raise ToolError(f"refused: {raw_url!s} has no host.")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ToolError(f"could not resolve host {host!r}: {exc}.") from None
    addresses: list[IPAddress] = []
    for info in infos:
        # Drop an IPv6 scope id ("fe80::1%eth0"); the address itself is what is checked.
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise ToolError(f"could not resolve host {host!r}.")
    # All of them, not just the first: the connection may fall through to any.
    for address in addresses:
        reason = address_refusal(address, allowed)
        if reason is not None:
            raise ToolError(f"refused: {reason}" + (f" ({host} resolves to it)." if _is_name(host) else "."))
    return Target(url=url, host=host, addresses=addresses)


# --- Fetching ---------------------------------------------------------------------------


class FetchUrlInput(BaseModel):
    url: str = Field(description="The http or https URL to fetch.", min_length=1, max_length=4096)
    max_characters: int = Field(
        default=50_000, ge=100, le=500_000, description="Cut the returned text after this many characters."
    )


class FetchUrlOutput(BaseModel):
    url: str = Field(description="The URL that was asked for.")
    final_url: str = Field(description="The URL the content came from, after redirects.")
    status: int = Field(description="The HTTP status of the final response.")
    content_type: str
    title: str | None = Field(description="The page's title, for HTML pages.")
    text: str = Field(description="The main text: boilerplate removed for HTML, as served for text.")
    truncated: bool = Field(description="True when the text was cut at max_characters.")
    redirects: list[str] = Field(description="The URLs that redirected, in order.")


class _Decoder:
    """Decompress gzip/deflate in bounded steps, so the size cap holds on what expands."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        if encoding in ("", "identity"):
            self._zlib = None
        elif encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
        else:
            raise ToolError(f"the server sent an unsupported content encoding {encoding!r}.")
        self._raw_deflate = False

    def feed(self, data: bytes, limit: int) -> bytes:
        """Decoded bytes for ``data``; stops after more than ``limit`` bytes came out."""
        if self._zlib is None:
            return data
        try:
            out = self._zlib.decompress(data, limit + 1)
        except zlib.error:
            if self.encoding == "deflate" and not self._raw_deflate:
                # Some servers send raw deflate without the zlib header the RFC asks for.
                self._raw_deflate = True
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.feed(data, limit)
            raise ToolError("the server sent a body that does not decompress.") from None
        return out


@functools.cache
def _ssl_context(cafile: str | None) -> ssl.SSLContext:
    """One TLS context per process and CA bundle: loading the trust store took most of
    a fetch (about 20 ms), even of a plain http:// URL, since every client builds one."""
    if cafile:
        return ssl.create_default_context(cafile=cafile)
    return httpx2.create_ssl_context(trust_env=False)


class _Fetch:
    """One fetch: the redirect loop, the pinned connection and the capped body."""

    def __init__(self, url: str, ctx: ToolContext) -> None:
        self.ctx = ctx
        self.requested = url
        self.timeout = float(settings.FETCH_URL_TIMEOUT)
        self.max_bytes = int(settings.FETCH_URL_MAX_BYTES)
        self.deadline = time.monotonic() + self.timeout
        self.allowed = allowed_networks()
        self.redirects: list[str] = []

    def _client(self) -> httpx2.Client:
        try:
            verify = _ssl_context(settings.FETCH_URL_CA_BUNDLE or None)
        except (OSError, ssl.SSLError) as exc:
            raise ToolError(f"FETCH_URL_CA_BUNDLE could not be loaded: {exc}.") from None
        # trust_env=False: no proxies from the environment and no .netrc credentials.
        return httpx2.Client(
            follow_redirects=False, trust_env=False, verify=verify, headers={"User-Agent": USER_AGENT}
        )

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ToolError(f"the fetch took longer than {self.timeout:g} s and was stopped.")
        return left

    def run(self) -> tuple[httpx2.Response, Target, bytes]:
        target = url_check(self.requested, allowed=self.allowed)
        with self._client() as self.client:
            while True:
                self.ctx.raise_if_cancelled()
                response, body = self._get(target)
                if response.is_redirect and response.headers.get("location"):
                    if len(self.redirects) >= MAX_REDIRECTS:
                        raise ToolError(f"too many redirects (more than {MAX_REDIRECTS}).")
                    self.redirects.append(str(target.url))
                    try:
                        next_url = target.url.join(response.headers["location"])
                    except (httpx2.InvalidURL, ValueError) as exc:
                        raise ToolError(f"the server redirected to an invalid URL ({exc}).") from None
                    target = url_check(next_url, allowed=self.allowed)
                    continue
                return response, target, body

    def _get(self, target: Target) -> tuple[httpx2.Response, bytes]:
        """GET the target from its vetted addresses; read the body unless it redirects."""
        headers = {
            "Host": target.url.netloc.decode("ascii"),
            "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        }
        extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
        last_error: Exception | None = None
        for address in target.addresses:
            pinned = target.url.copy_with(host=str(address))
            request = self.client.build_request(
                "GET", pinned, headers=headers, extensions=extensions, timeout=httpx2.Timeout(self.remaining())
            )
            try:
                response = self.client.send(request, stream=True)
            except httpx2.ConnectError as exc:
                last_error = exc  # try the host's next address
                continue
            except httpx2.TimeoutException:
                raise ToolError(f"the fetch took longer than {self.timeout:g} s and was stopped.") from None
            except httpx2.HTTPError as exc:
                raise ToolError(f"could not fetch {target.url}: {exc or type(exc).__name__}.") from None
            try:
                if response.is_redirect:
                    return response, b""
                return response, self._read(response)
            finally:
                response.close()
        raise ToolError(f"could not connect to {target.host}: {last_error}.")

    def _read(self, response: httpx2.Response) -> bytes:
        decoder = _Decoder(response.headers.get("content-encoding", "").strip().lower())
        expected = response.headers.get("content-length")
        total = float(expected) if expected and expected.isdigit() and decoder.encoding in ("", "identity") else None
        chunks: list[bytes] = []
        size = 0
        reported: int | None = None
        try:
            for raw in response.iter_raw():
                self.ctx.raise_if_cancelled()
                self.remaining()
                data = decoder.feed(raw, self.max_bytes - size)
                size += len(data)
                if size > self.max_bytes:
                    raise ToolError(f"the response is larger than {self.max_bytes} bytes and was cut off.")
                chunks.append(data)
                # Every network read would be an event for a slow, dripping server: report in steps.
                if reported is None or size - reported >= PROGRESS_STEP:
                    self.ctx.report_progress(size, total, "Downloading")
                    reported = size
        except httpx2.TimeoutException:
            raise ToolError(f"the fetch took longer than {self.timeout:g} s and was stopped.") from None
        except httpx2.HTTPError as exc:
            raise ToolError(f"the connection failed while reading the response: {exc or type(exc).__name__}.") from None
        if reported != size:
            self.ctx.report_progress(size, total, "Downloading")
        return b"".join(chunks)


def _decode_text(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


class FetchUrlTool(Tool):
    name = "fetch_url"
    title = "Fetch URL"
    description = (
        "Fetch a public web page (http or https) and return its main text without navigation and "
        "boilerplate, with its title, the final URL after redirects, the HTTP status and the content "
        "type. Plain-text pages are returned as served; error statuses (4xx, 5xx) are reported as "
        "errors. Private and internal addresses are refused."
    )
    input_model = FetchUrlInput
    output_model = FetchUrlOutput
    annotations = Annotations(read_only=True, open_world=True)
    mode = Mode.BACKGROUND
    cacheable = True
    cache_ttl = 300

    def run(self, arguments: FetchUrlInput, ctx: ToolContext) -> FetchUrlOutput:
        fetch = _Fetch(arguments.url, ctx)
        response, target, body = fetch.run()
        if response.status_code >= 400:
            raise ToolError(f"{target.url} answered HTTP {response.status_code} {response.reason_phrase}.".rstrip())
        content_type = response.headers.get("content-type", "")
        media_type = content_type.split(";")[0].strip().lower()
        charset = response.charset_encoding
        title: str | None = None
        if media_type in HTML_TYPES or (
            not media_type and body.lstrip()[:15].lower().startswith((b"<!doctype", b"<html"))
        ):
            html: str | bytes = _decode_text(body, charset) if charset else body  # trafilatura sniffs bytes
            document = trafilatura.bare_extraction(html, url=str(target.url), with_metadata=True, include_tables=True)
            text = (document.text if document is not None else "") or ""
            title = document.title if document is not None else None
            if not text.strip():
                # Too little for the main-content heuristics (a short page): keep all its text.
                text = trafilatura.html2txt(html) or ""
        elif media_type.startswith("text/") or media_type in TEXT_TYPES or media_type.endswith(("+json", "+xml")):
            text = _decode_text(body, charset)
        else:
            raise ToolError(f"{target.url} is {media_type or 'of unknown type'}, not a web page or text.")
        truncated = len(text) > arguments.max_characters
        ctx.report_progress(len(body), len(body), "Done")
        return FetchUrlOutput(
            url=arguments.url,
            final_url=str(target.url),
            status=response.status_code,
            content_type=content_type,
            title=title,
            text=text[: arguments.max_characters],
            truncated=truncated,
            redirects=fetch.redirects,
        )
