"""The local JSON-RPC (``rpc.py``): cookie authentication, clear errors, and the node's methods.

The server runs in this process on 127.0.0.1 with a regtest node on a loopback-free transport
(``NodeService`` is transport-free), so each test takes milliseconds."""
from __future__ import annotations

import base64
import json
import os
import socket
import stat
import urllib.request

import pytest

from gradientcoin_edu.chain import Chain
from gradientcoin_edu.crypto.keys import PrivateKey, address_to_str
from gradientcoin_edu.datadir import open_datadir, write_private
from gradientcoin_edu.errors import UsageError
from gradientcoin_edu.network.node import Node
from gradientcoin_edu.network.service import NodeService, parse_coins
from gradientcoin_edu.rpc import (COOKIE_NAME, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR,
                                  NodeClient, RpcError, RpcServer)


class _NullTransport:
    def __init__(self):
        self.sent = []

    def send(self, peer, data):
        self.sent.append((peer, data))

    def disconnect(self, peer):
        pass

    def now(self):
        import time
        return time.time()


@pytest.fixture
def served(tmp_path):
    key = PrivateKey.from_seed(b"rpc test")
    node = Node("n1", Chain("regtest"), _NullTransport(), miner_address=key.address())
    stopped = []
    service = NodeService(node, tmp_path, key, on_stop=lambda: stopped.append(True), chain_name="regtest")
    service.coinbase_depth = 1          # spend a reward at once (the reward depth: tests/test_wallet_reorg.py)
    node.listener = service.on_node_event
    server = RpcServer(service.methods(), tmp_path, inline=True)
    yield node, service, server, NodeClient(tmp_path, timeout=5), stopped
    server.close()


def _post(url, body: bytes, cookie: str | None):
    headers = {"Content-Type": "application/json"}
    if cookie is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(cookie.encode()).decode()
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def test_the_cookie_is_private_and_the_server_is_local(served, tmp_path):
    node, service, server, client, _ = served
    mode = stat.S_IMODE(os.stat(tmp_path / COOKIE_NAME).st_mode)
    assert mode == 0o600
    assert server.httpd.server_address[0] == "127.0.0.1"
    with pytest.raises(UsageError):
        RpcServer({}, tmp_path, host="0.0.0.0")


def test_status_send_and_block_lookup(served):
    node, service, server, client, _ = served
    for _ in range(3):
        node.mine_block()
    status = client.status()
    assert status["height"] == 3 and status["tip"] == node.chain.tip.hash_hex()
    assert client.getblock(2)["hash"] == node.chain.entry_at(2).hash_hex()
    assert client.getblock(status["tip"])["height"] == 3
    payee = address_to_str(PrivateKey.from_seed(b"payee").address())
    sent = client.send(payee, "1.5")
    assert client.gettx(sent["txid"])["height"] is None              # in the mempool
    node.mine_block()
    tx = client.gettx(sent["txid"])
    assert tx["height"] == 4 and {"address": payee, "amount": "1.50000000"} in tx["outputs"]
    assert [e["kind"] for e in client.events()["events"]].count("tip") == 4


def test_send_spends_change_still_waiting_in_the_mempool(served):
    node, service, server, client, _ = served
    node.mine_block()                                                # one confirmed coin
    node.miner_address = PrivateKey.from_seed(b"someone else").address()
    payee = address_to_str(PrivateKey.from_seed(b"payee").address())
    first = client.send(payee, "10")
    second = client.send(payee, "5")                                 # only the first one's change is left
    tx = node.mempool.get(bytes.fromhex(second["txid"])[::-1])
    assert [i.prev_txid for i in tx.inputs] == [bytes.fromhex(first["txid"])[::-1]]
    block = node.mine_block()
    assert [t.txid for t in block.txs[1:]] == [bytes.fromhex(s["txid"])[::-1] for s in (first, second)]


def test_a_wrong_cookie_is_refused(served):
    node, service, server, client, _ = served
    bad = NodeClient(url=server.url, cookie="__cookie__:not-the-password", timeout=5)
    with pytest.raises(RpcError) as err:
        bad.status()
    assert err.value.reason == "unauthorized" and "cookie" in err.value.message
    with pytest.raises(urllib.error.HTTPError) as http:
        _post(server.url, b'{"jsonrpc": "2.0", "id": 1, "method": "status"}', None)
    assert http.value.code == 401


def test_a_closed_port_says_the_node_is_not_running(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))          # bound, never listening: connections are refused, and
        port = closed.getsockname()[1]         # no other process can take the port while it is held
        client = NodeClient(url=f"http://127.0.0.1:{port}/", cookie="__cookie__:x", timeout=2)
        with pytest.raises(RpcError) as err:
            client.status()
    assert err.value.reason == "unreachable" and "is it running" in err.value.message
    with pytest.raises(RpcError) as err:
        NodeClient(tmp_path / "nowhere").status()
    assert err.value.reason == "no-node"


def test_malformed_requests_get_json_rpc_errors(served):
    node, service, server, client, _ = served
    cookie = (server.datadir / COOKIE_NAME).read_text()
    assert _post(server.url, b"{not json", cookie)["error"]["code"] == PARSE_ERROR
    assert _post(server.url, b"[1, 2]", cookie)["error"]["code"] == INVALID_REQUEST
    assert _post(server.url, b'{"id": 1, "method": "status"}', cookie)["error"]["code"] == INVALID_REQUEST
    assert _post(server.url, b'{"jsonrpc": "2.0", "id": 1, "method": "nope"}', cookie)["error"]["code"] \
        == METHOD_NOT_FOUND
    reply = _post(server.url, b'{"jsonrpc": "2.0", "id": 7, "method": "getblock", "params": [1, 2, 3]}', cookie)
    assert reply["id"] == 7 and reply["error"]["code"] == INVALID_PARAMS
    with pytest.raises(RpcError) as err:
        client.call("nope")
    assert err.value.reason == "unknown-method" and "known:" in err.value.message


def test_the_nodes_own_rejections_come_back_with_their_reason(served):
    node, service, server, client, _ = served
    payee = address_to_str(PrivateKey.from_seed(b"payee").address())
    with pytest.raises(RpcError) as err:
        client.send(payee, 1)                              # nothing mined yet: no coins
    assert err.value.reason == "insufficient-funds"
    with pytest.raises(RpcError) as err:
        client.send("gc1nonsense", 1)
    assert err.value.reason == "bad-address"
    with pytest.raises(RpcError) as err:
        client.getblock(99)
    assert err.value.reason == "unknown-block"
    assert len(node.mempool) == 0


def test_wallets_and_stop(served, tmp_path):
    node, service, server, client, stopped = served
    made = client.createwallet("ada")
    assert stat.S_IMODE(os.stat(tmp_path / "wallets" / "ada.key").st_mode) == 0o600
    assert client.balance("ada")["address"] == made["address"]
    with pytest.raises(RpcError):
        client.createwallet("../evil")
    assert client.stop() == "stopping" and stopped == [True]


def test_a_queued_request_runs_on_the_nodes_thread(tmp_path):
    calls = []
    server = RpcServer({"ping": lambda: calls.append("ran") or "pong"}, tmp_path, timeout=5)
    try:
        import threading
        result = {}
        t = threading.Thread(target=lambda: result.update(r=NodeClient(tmp_path, timeout=5).call("ping")))
        t.start()
        while not calls:
            server.serve_pending()                         # the "node loop"
        t.join(5)
        assert result["r"] == "pong"
    finally:
        server.close()
    assert not (tmp_path / COOKIE_NAME).exists()           # the cookie goes away with the server


def test_amounts_are_parsed_exactly():
    assert parse_coins("1.5") == 150_000_000 and parse_coins(2) == 200_000_000
    for bad in ("0", "-1", "1.000000001", "abc"):
        with pytest.raises(UsageError):
            parse_coins(bad)


def test_the_data_dir_lock_refuses_a_second_user(tmp_path):
    first = open_datadir(tmp_path / "d")
    with pytest.raises(UsageError) as err:
        open_datadir(tmp_path / "d")
    assert err.value.reason == "datadir-in-use" and str(os.getpid()) in err.value.message
    first.close()
    open_datadir(tmp_path / "d").close()                   # free again once released


def test_private_files_are_0600_and_never_follow_a_symlink(tmp_path):
    target = tmp_path / "victim"
    target.write_bytes(b"keep me")
    link = tmp_path / "key"
    os.symlink(target, link)
    write_private(link, b"secret")                         # replaces the link itself
    assert target.read_bytes() == b"keep me"
    assert not os.path.islink(link) and link.read_bytes() == b"secret"
    assert stat.S_IMODE(os.stat(link).st_mode) == 0o600


@pytest.fixture
def llm_served(tmp_path):
    """An LLM node (``tiny`` network) serving RPC in this thread: (node, its key, a client)."""
    from gradientcoin_edu.llm import LLMChain, LLMSpec
    from gradientcoin_edu.llm.network import LLMNode, LLMNodeService
    key = PrivateKey.from_seed(b"llm rpc test")
    node = LLMNode("n1", LLMChain(LLMSpec.builtin("tiny")), _NullTransport(), miner_address=key.address())
    service = LLMNodeService(node, tmp_path, key)
    service.coinbase_depth = 1          # spend a reward at once (the reward depth: tests/test_wallet_reorg.py)
    server = RpcServer(service.methods(), tmp_path, inline=True)
    yield node, key, NodeClient(tmp_path, timeout=30)
    server.close()


def test_the_llm_methods_contribute_ask_and_verify(llm_served):
    node, _, client = llm_served
    node.mine_block()
    text = "".join(f"{a}+{b}={a + b}\n" for a in range(10) for b in range(10))
    sent = client.contribute(text)
    records_before = len(node.chain.dataset)
    node.mine_block()
    assert client.gettx(sent["txid"])["height"] == 2 and len(node.chain.dataset) > records_before
    asked = client.ask("\n3+4=", tokens=6, wait=None)
    assert client.answer(asked["txid"])["answered"] is False
    node.mine_block()
    answer = client.answer(asked["txid"])
    assert answer["answered"] and answer["verified"] and answer["height"] == 3 and len(answer["text"]) == 6
    assert answer["text"] == node.chain.find_answer(bytes.fromhex(asked["txid"])[::-1])[1].text
    assert set(client.call("losscurve")) == {"3"}
    with pytest.raises(RpcError) as err:
        client.contribute("short")
    assert err.value.reason == "text-too-short"


def test_llm_contribute_then_ask_at_once_spends_the_waiting_change(llm_served):
    """One confirmed coin: ``contribute`` spends it, and ``ask`` right after pays from the
    contribution's change, still in the pool; the next block holds both, parent first, and
    answers the query."""
    node, key, client = llm_served
    node.mine_block()
    assert len(node.chain.utxo.coins_of(key.address())) == 1
    sent = client.contribute("".join(f"{a}+{a}={a + a}\n" for a in range(10)))
    asked = client.ask("\n3+4=", tokens=4, wait=None)
    query = node.mempool.get(bytes.fromhex(asked["txid"])[::-1])
    assert [i.prev_txid.hex() for i in query.inputs] == [bytes.fromhex(sent["txid"])[::-1].hex()]
    block = node.mine_block()
    assert [tx.txid for tx in block.txs[1:]] == [bytes.fromhex(sent["txid"])[::-1], query.txid]
    answer = client.answer(asked["txid"])                           # answered in the block that holds it
    assert answer["answered"] and answer["verified"] and answer["height"] == 2
