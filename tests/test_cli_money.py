"""Paying through the node's RPC and the ``gradientcoin`` commands, as a user does it.

A ``tiny`` LLM node serves RPC in this process (``inline``: each call runs in the HTTP thread);
the commands run as real ``gradientcoin`` processes against its data dir. What is checked:
``contribute`` keeps every character (or refuses, saying why, before paying), every amount a
message shows is in coins, a fee above the maximum is refused, and each mistake is one line
with exit status 2."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

import pytest

from gradientcoin_edu.crypto.keys import PrivateKey, address_to_str
from gradientcoin_edu.datadir import write_private
from gradientcoin_edu.errors import UsageError
from gradientcoin_edu.ledger import KIND_TRAINING_DATA
from gradientcoin_edu.llm.data import parse_data_payload
from gradientcoin_edu.rpc import NodeClient, RpcError, RpcServer


class _NullTransport:
    def send(self, peer, data):
        pass

    def disconnect(self, peer):
        pass

    def now(self):
        import time
        return time.time()


@pytest.fixture(scope="module")
def spec():
    from gradientcoin_edu.llm import LLMSpec
    return LLMSpec.builtin("tiny")


@pytest.fixture
def llm(spec, tmp_path):
    """(node, service, client, data dir): one block mined, so the node's wallet holds 50 coins."""
    from gradientcoin_edu.llm import LLMChain
    from gradientcoin_edu.llm.network import LLMNode, LLMNodeService
    key = PrivateKey.from_seed(b"cli money test")
    node = LLMNode("n1", LLMChain(spec), _NullTransport(), miner_address=key.address())
    service = LLMNodeService(node, tmp_path, key)
    service.coinbase_depth = 1          # spend a reward at once (the reward depth: tests/test_wallet_reorg.py)
    server = RpcServer(service.methods(), tmp_path, inline=True)
    node.mine_block()
    try:
        yield node, service, NodeClient(tmp_path, timeout=30), tmp_path
    finally:
        server.close()


def gradientcoin(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradientcoin_edu", *args], capture_output=True, text=True,
                          timeout=120, input=stdin if stdin is not None else "")


def _one_line_error(result: subprocess.CompletedProcess, needle: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0], lines[0]
    return lines[0]


def _pool_texts(node) -> list[str]:
    """The texts of the data transactions waiting in the pool, parents first."""
    return [parse_data_payload(node.mempool.get(t).payload) for t in node.mempool.txids()
            if node.mempool.get(t).kind == KIND_TRAINING_DATA]


def _lines(n: int) -> str:
    return "".join(f"{a}+{b}={a + b}\n" for a in range(100) for b in range(100))[:n]


# ------------------------------------------------------------------ contribute keeps every character
@pytest.mark.parametrize("length", [53, 2000])
def test_contribute_keeps_every_character_and_the_dataset_gets_every_record(llm, length):
    """53 characters (the README's kind of file: 5 records and 8 characters over) and 2,000 (far
    more than one transaction's 16 records of 9): every character reaches the dataset."""
    node, service, client, _ = llm
    text = _lines(length)
    r = node.chain.spec.params.record_tokens
    sent = client.contribute(text)
    n_records = -(-length // r)
    assert sent["records"] == n_records and sent["characters"] == length
    assert sent["transactions"] == len(sent["txids"]) == -(-n_records // node.chain.spec.params.max_records_per_tx)
    texts = _pool_texts(node)
    assert [node.mempool.get(bytes.fromhex(t)[::-1]) is not None for t in sent["txids"]] == [True] * len(texts)
    joined = "".join(texts)
    tail = length % r
    assert joined[: length - tail] == text[: length - tail]              # the full records, in order
    assert joined[-r:] == text[-r:]                                      # the last record ends the text
    before = len(node.chain.dataset)
    node.mine_block()
    assert len(node.mempool) == 0
    added = node.chain.dataset.records[before:]
    decoded = [node.chain.spec.tokenizer.decode(rec) for rec in added]
    assert len(decoded) == n_records
    covered = "".join(decoded[:-1]) + (decoded[-1][-tail:] if tail else decoded[-1])
    assert covered == text


def test_characters_the_tokenizer_lacks_are_named_and_nothing_is_sent(llm):
    """Past the first transaction's 144 characters (where the old code cut the text silently):
    an 'é' and a Windows line end. Every one is named, with where it first is."""
    node, service, client, _ = llm
    text = _lines(300) + "café\r\n"
    with pytest.raises(RpcError) as err:
        client.contribute(text)
    assert err.value.reason == "data-unknown-character"
    assert "'é'" in err.value.message and "'\\r'" in err.value.message and "dos2unix" in err.value.message
    assert "line" in err.value.message
    assert len(node.mempool) == 0


def test_a_text_longer_than_the_mempool_chains_is_refused_stating_the_limit(llm):
    """32,000 characters need 223 transactions of 16 records; the old code kept 144 characters
    and said nothing. Now: refused before paying, with how much one contribute can take."""
    node, service, client, _ = llm
    with pytest.raises(RpcError) as err:
        client.contribute(_lines(32_000))
    assert err.value.reason == "contribution-too-long"
    assert "223 data transactions" in err.value.message and "at most 3,600 characters" in err.value.message
    assert len(node.mempool) == 0
    client.contribute(_lines(3_600))                                     # exactly the limit goes through
    assert len(node.mempool) == 25                                       # one chain of 25, as the pool allows
    with pytest.raises(RpcError) as err:                                 # and nothing more until a block
        client.contribute(_lines(9))
    assert err.value.reason == "contribution-too-long" and "25 of this wallet's transactions" in err.value.message
    node.mine_block()
    client.contribute(_lines(9))


def test_a_fee_above_the_maximum_is_refused_in_coins_unless_raised(llm):
    node, service, client, _ = llm
    text = _lines(2000)                                                  # 223 records: 0.00223 coin
    with pytest.raises(RpcError) as err:
        client.contribute(text, max_fee="0.001")
    assert err.value.reason == "fee-too-high"
    assert "0.00223000 coins" in err.value.message and "0.00100000 coins" in err.value.message
    assert len(node.mempool) == 0
    plan = client.contribute(text, max_fee="0.01", dry_run=True)
    assert plan["fee"] == "0.00223000" and plan["transactions"] == 14 and len(node.mempool) == 0
    sent = client.contribute(text, max_fee="0.01")
    assert sent["fee"] == "0.00223000" and len(node.mempool) == 14
    payee = address_to_str(PrivateKey.from_seed(b"payee").address())
    with pytest.raises(RpcError) as err:                                 # 1000 meant as units is 1000 coins
        client.send(payee, "1", fee=1000)
    assert err.value.reason == "fee-too-high" and "1000.00000000 coins" in err.value.message
    with pytest.raises(RpcError) as err:
        client.send(payee, "100")
    assert err.value.reason == "insufficient-funds" and re.search(r"can spend \d+\.\d{8} coins", err.value.message)
    paid = client.send(payee, "1.5", fee="0.0001")
    assert paid["fee"] == "0.00010000" and paid["amount"] == "1.50000000"


def test_the_service_refuses_bad_fees_and_amounts_with_their_reason(llm):
    node, service, client, _ = llm
    payee = address_to_str(PrivateKey.from_seed(b"payee").address())
    for amount in ("abc", "0", "-1", "nan", "inf", "1.000000001", [1], True):
        with pytest.raises(RpcError) as err:
            client.send(payee, amount)
        assert err.value.reason == "bad-amount", amount
    for fee in ("-1", "x", "nan", True):
        with pytest.raises(RpcError) as err:
            client.send(payee, "1", fee=fee)
        assert err.value.reason == "bad-fee", fee
    assert len(node.mempool) == 0
    with pytest.raises(UsageError):
        service.extensions[0].contribution_records("short")        # the LLM's methods, plugged in


# ------------------------------------------------------------------ the commands
def test_contribute_command_states_the_fee_takes_real_newlines_and_refuses_files_it_cannot_send(llm, tmp_path):
    node, service, client, datadir = llm
    d = str(datadir)
    text_file = tmp_path / "my_text.txt"
    text_file.write_text(_lines(53))
    dry = gradientcoin("contribute", "--data-dir", d, "--file", str(text_file), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "6 records" in dry.stdout and "1 data transaction(s)" in dry.stdout and "fee 0.00006000 coins" in dry.stdout
    assert len(node.mempool) == 0
    paid = gradientcoin("contribute", "--data-dir", d, "--file", str(text_file), "--yes")
    assert paid.returncode == 0, paid.stderr
    assert "fee 0.00006000 coins" in paid.stderr                       # stated before paying
    assert json.loads(paid.stdout)["fee"] == "0.00006000"
    typed = gradientcoin("contribute", "--data-dir", d, "2+2=4\n3+3=6\n4+4=8\n")   # what $'...' passes
    assert typed.returncode == 0, typed.stderr
    assert "2+2=4\n3+3=6\n" in "".join(_pool_texts(node)) and "\\" not in "".join(_pool_texts(node))
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"\x00\x01\x02gradient" * 100)
    _one_line_error(gradientcoin("contribute", "--data-dir", d, "--file", str(binary)), "binary file")
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\u00e9\n".encode("latin-1") * 10)
    _one_line_error(gradientcoin("contribute", "--data-dir", d, "--file", str(latin)), "not UTF-8")
    big = tmp_path / "big.txt"
    big.write_text("0123456789\n" * 300_000)                           # 3.3 MB
    _one_line_error(gradientcoin("contribute", "--data-dir", d, "--file", str(big)), "at most 1,000,000 bytes")
    _one_line_error(gradientcoin("contribute", "--data-dir", d, "--file", str(tmp_path / "missing.txt")),
                    "No such file")
    _one_line_error(gradientcoin("contribute", "--data-dir", d, "--file", str(tmp_path)), "Is a directory")
    _one_line_error(gradientcoin("contribute", "--data-dir", d, _lines(2000), "--max-fee", "0.001"),
                    "more than the maximum 0.00100000 coins")
    assert len(node.mempool) == 2                                        # the two paid ones only


def test_ask_that_times_out_prints_the_txid_and_the_command_that_fetches_the_answer(llm):
    node, service, client, datadir = llm
    asked = gradientcoin("ask", "--data-dir", str(datadir), "--timeout", "1", "\n3+4=")
    line = _one_line_error(asked, "not answered within 1 s")
    command = line.split("fetch its answer later with: ")[1]
    txid = command.split()[-1]
    assert re.fullmatch(r"[0-9a-f]{64}", txid) and node.mempool.get(bytes.fromhex(txid)[::-1]) is not None
    assert node.mempool.get(bytes.fromhex(txid)[::-1]).payload.find(b"\n3+4=") >= 0   # a real newline
    later = subprocess.run([sys.executable, "-m", "gradientcoin_edu", *command.split()[1:]],
                           capture_output=True, text=True, timeout=60)
    assert later.returncode == 0 and json.loads(later.stdout)["answered"] is False
    node.mine_block()
    later = subprocess.run([sys.executable, "-m", "gradientcoin_edu", *command.split()[1:]],
                           capture_output=True, text=True, timeout=60)
    assert json.loads(later.stdout)["answered"] is True


def test_every_command_mistake_is_one_line(llm, tmp_path):
    node, service, client, datadir = llm
    d = str(datadir)
    payee = address_to_str(PrivateKey.from_seed(b"payee").address())
    _one_line_error(gradientcoin("send", "--data-dir", d, payee, "abc"), "an amount is a number of coins")
    _one_line_error(gradientcoin("send", "--data-dir", d, payee, "1", "--fee", "5"), "5.00000000 coins")
    _one_line_error(gradientcoin("send", "--data-dir", d, "gc1nonsense", "1"), "address")
    _one_line_error(gradientcoin("send", "--data-dir", d, payee, "1000"), "coins")
    _one_line_error(gradientcoin("rpc", "--data-dir", d, "gettx", "zz"), "64 hex digits")
    _one_line_error(gradientcoin("rpc", "--data-dir", d, "answer", "00" * 32), "no query")
    _one_line_error(gradientcoin("rpc", "--data-dir", d, "nosuchmethod"), "unknown method")
    _one_line_error(gradientcoin("ask", "--data-dir", d, "3+4=", "--tokens", "0"), "--tokens")
    _one_line_error(gradientcoin("status", "--data-dir", d, "--timeout", "inf"), "--timeout")
    afile = tmp_path / "a-file"
    afile.write_text("x")
    _one_line_error(gradientcoin("status", "--data-dir", str(afile)), "is a file")
    _one_line_error(gradientcoin("send", "--data-dir", str(tmp_path / "nowhere"), payee, "1"), "no node is running")
    # a node that is down but left its rpc.json: a port nobody listens on (bound here, never listening)
    down = tmp_path / "down"
    down.mkdir()
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    try:
        port = holder.getsockname()[1]
        write_private(down / "rpc.json", json.dumps({"url": f"http://127.0.0.1:{port}/", "port": port}).encode())
        write_private(down / ".cookie", b"__cookie__:x")
        for command in (["status"], ["send", payee, "1"], ["ask", "3+4="], ["contribute", "some text here"],
                        ["rpc", "getblock", "1"]):
            _one_line_error(gradientcoin(command[0], "--data-dir", str(down), *command[1:]), "is it running")
    finally:
        holder.close()
    assert len(node.mempool) == 0


def test_the_wallet_pays_what_the_mempool_asks_for_the_size(llm):
    """A node whose pool asks 100 units per byte (its minimum relay fee rate, or a full pool's
    rolling minimum): the default fees of ``send``, ``ask`` and ``contribute`` follow it, where
    the fixed defaults (1,000 units a payment, 0.0001 coin a query, 0.00001 a record) would be
    refused by the node itself."""
    from gradientcoin_edu.network import mempool as mp
    if not hasattr(mp, "RelayPolicy") or not hasattr(mp.Mempool, "min_feerate"):
        pytest.skip("this mempool states no minimum fee rate")
    node, service, client, _ = llm
    node.mempool.relay = mp.RelayPolicy(min_relay_feerate=100.0)
    payee = address_to_str(PrivateKey.from_seed(b"payee").address())
    for sent in (client.send(payee, "1"), client.ask("\n3+4=", wait=None), client.contribute(_lines(9))):
        tx = node.mempool.get(bytes.fromhex(sent["txid"])[::-1])
        fee = round(float(sent["fee"]) * 10**8)
        assert 100 * tx.size <= fee <= 100 * tx.size + 100                # what it asks, hardly more
    with pytest.raises(RpcError) as err:                                 # a fee given too low: said in coins
        client.send(payee, "1", fee="0.00001")
    assert err.value.reason == "policy-min-relay-fee" and "0.00001000 coins" in err.value.message
    assert "units" not in err.value.message
