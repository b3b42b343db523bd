"""A fake CoinGecko API on a loopback port, scripted per test; the real network is never called."""

import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

API_PREFIX = "/api/v3"


def market(coin_id, symbol, name, price, mkt_cap, volume, h1, h24, d7, rank=None):
    """Return one /coins/markets entry in the real endpoint's JSON shape (percent fields in percent)."""
    return {
        "id": coin_id, "symbol": symbol, "name": name,
        "image": f"https://coin-images.coingecko.com/coins/images/1/large/{coin_id}.png",
        "current_price": price, "market_cap": mkt_cap, "market_cap_rank": rank,
        "fully_diluted_valuation": mkt_cap, "total_volume": volume,
        "high_24h": price, "low_24h": price, "price_change_24h": None if None in (h24, price) else price * h24 / 100,
        "price_change_percentage_24h": h24, "market_cap_change_24h": None,
        "market_cap_change_percentage_24h": h24, "circulating_supply": 19_000_000.0, "total_supply": 21_000_000.0,
        "max_supply": 21_000_000.0, "ath": price, "ath_change_percentage": 0.0,
        "ath_date": "2024-03-14T07:10:36.635Z", "atl": 0.01, "atl_change_percentage": 1e6,
        "atl_date": "2013-07-06T00:00:00.000Z", "roi": None, "last_updated": "2024-03-16T09:59:12.215Z",
        "price_change_percentage_1h_in_currency": h1,
        "price_change_percentage_24h_in_currency": h24,
        "price_change_percentage_7d_in_currency": d7,
    }


def sample_markets():
    """Seven coins by market cap: five complete, one without 24h/7d changes, one with null price and 1h."""
    return [
        market("bitcoin", "btc", "Bitcoin", 40859.46, 770991461396, 35390763321, 2.2, 3.0, 5.5, 1),
        market("ethereum", "eth", "Ethereum", 2744.41, 327104429349, 19748695312, 2.4, 3.4, 6.5, 2),
        market("tether", "usdt", "Tether", 1.0, 80013409842, 56201567081, 0.0, -0.1, 0.0, 3),
        market("binancecoin", "bnb", "BNB", 383.2, 63301274393, 1432987210, -0.5, 1.2, -2.0, 4),
        market("nullcoin", "null", "Nullcoin", None, 41000000000, 900000000, None, 1.0, 2.0, 5),
        market("newcoin", "new", "Newcoin, Inc.", 0.52, 17012345678, 1234567890, 1.1, None, None, 6),
        market("solana", "sol", "Solana", 87.31, 28101234567, 1876543210, -1.25, -3.0, 12.0, 7),
    ]


@dataclass
class Reply:
    """A scripted answer: status, body (JSON-able, str or bytes) and headers."""

    status: int = 200
    body: object = None
    headers: dict = field(default_factory=dict)


@dataclass
class SeenRequest:
    path: str
    query: dict
    headers: dict


class FakeCoinGecko:
    """Serve /api/v3/coins/markets from self.coins; scripted replies in self.script are served first."""

    def __init__(self, coins=None):
        self.coins = sample_markets() if coins is None else coins
        self.script = deque()
        self.requests = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def base_url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{API_PREFIX}"

    def queue(self, status=200, body=None, headers=None):
        """Serve this reply to the next request, before the default behaviour."""
        self.script.append(Reply(status, body, headers or {}))

    def market_requests(self):
        return [r for r in self.requests if r.path == f"{API_PREFIX}/coins/markets"]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def answer(self, path, query):
        """Return the Reply to a request: the next scripted one, else the endpoint's behaviour."""
        with self._lock:
            if self.script:
                return self.script.popleft()
        if path != f"{API_PREFIX}/coins/markets":
            return Reply(404, {"error": "Not Found"})
        if query.get("vs_currency") != "usd":
            return Reply(400, {"error": "invalid vs_currency"})
        coins = self.coins
        if "ids" in query:
            wanted = query["ids"].split(",")
            coins = [c for c in coins if c["id"] in wanted]
        if "symbols" in query:
            wanted = query["symbols"].lower().split(",")
            coins = [c for c in coins if c["symbol"] in wanted]
        per_page = int(query.get("per_page", 100))
        page = int(query.get("page", 1))
        return Reply(200, coins[(page - 1) * per_page:page * per_page])

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the name http.server calls
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                with fake._lock:
                    fake.requests.append(SeenRequest(parts.path, query, dict(self.headers)))
                reply = fake.answer(parts.path, query)
                body = reply.body
                if isinstance(body, str):
                    body = body.encode()
                elif not isinstance(body, bytes):
                    body = json.dumps(body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.headers.pop("Content-Type", "application/json"))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_):
                pass  # keep test output quiet

        return Handler


def closed_port_url():
    """Return a loopback base URL where nothing listens, so connecting is refused (offline)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{API_PREFIX}"
