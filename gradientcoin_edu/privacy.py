"""[tooling] Privacy on a public ledger (whitepaper section 10): pseudonyms, and how they get linked.

Every transaction is public, so privacy rests on one thing: nobody knows which addresses belong
to whom. The whitepaper's advice is to "use a new key pair for each transaction to keep them from
being linked to a common owner", and it names the leak that remains: "some linking is still
unavoidable with multi-input transactions, which necessarily reveal that their inputs were
owned by the same owner". That leak is the *common-input-ownership heuristic*: every address that
signs an input of one transaction is put in one cluster (a union-find over addresses), and the
clusters grow transaction by transaction.

This module gives the heuristic (``AddressClusters``), a second one that guesses the change output
from round amounts (``guess_change_output``), a wallet that follows the whitepaper's advice
(``FreshKeyWallet``: a new address for every payment it receives and for all its change), and a
score of how much the heuristics recover (``linkage_report``). Taught in notebook 06.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from .crypto.keys import PrivateKey, address_of
from .errors import InvalidTransaction
from .ledger import COIN, OutPoint, Transaction, TxIn, TxOut, UtxoSet

__all__ = ["input_addresses", "AddressClusters", "guess_change_output", "cluster_addresses", "FreshKeyWallet",
           "linkage_report"]


def input_addresses(tx: Transaction) -> list[bytes]:
    """The addresses whose coins ``tx`` spends: each input's public key hashed (a coinbase has none)."""
    if tx.is_coinbase:
        return []
    return [address_of(txin.pubkey) for txin in tx.inputs]


class AddressClusters:
    """Union-find over addresses: addresses that ever co-signed one transaction share a cluster."""

    def __init__(self):
        self._parent: dict[bytes, bytes] = {}

    def add_address(self, address: bytes) -> None:
        self._parent.setdefault(address, address)

    def find(self, address: bytes) -> bytes:
        """The representative of ``address``'s cluster (with path halving)."""
        self.add_address(address)
        while self._parent[address] != address:
            self._parent[address] = self._parent[self._parent[address]]
            address = self._parent[address]
        return address

    def union(self, a: bytes, b: bytes) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self._parent[max(ra, rb)] = min(ra, rb)          # deterministic representative

    def add_transaction(self, tx: Transaction) -> None:
        """Apply the heuristic to one transaction; output addresses are recorded, not linked."""
        ins = input_addresses(tx)
        for address in ins[1:]:
            self.union(ins[0], address)
        for address in ins:
            self.add_address(address)
        for out in tx.outputs:
            self.add_address(out.address)

    def same_owner(self, a: bytes, b: bytes) -> bool:
        return self.find(a) == self.find(b)

    def clusters(self) -> list[frozenset[bytes]]:
        """All clusters, largest first (ties: by smallest address)."""
        groups: dict[bytes, set[bytes]] = {}
        for address in self._parent:
            groups.setdefault(self.find(address), set()).add(address)
        return sorted((frozenset(g) for g in groups.values()), key=lambda g: (-len(g), min(g)))

    def __len__(self) -> int:
        return len(self.clusters())


def guess_change_output(tx: Transaction, round_unit: int = COIN // 100) -> int | None:
    """The round-amount heuristic: of exactly two outputs, if exactly one is a multiple of
    ``round_unit`` (0.01 coin), the *other* one is probably the change. None if it cannot tell."""
    if tx.is_coinbase or len(tx.outputs) != 2:
        return None
    is_round = [out.amount % round_unit == 0 for out in tx.outputs]
    if is_round.count(True) != 1:
        return None
    return is_round.index(False)


def cluster_addresses(txs: Iterable[Transaction], use_change: bool = False) -> AddressClusters:
    """Run the common-input-ownership heuristic over ``txs`` (e.g. every transaction of a chain).

    ``use_change=True`` also puts the guessed change output (``guess_change_output``) in the
    payer's cluster: more links, at the risk of wrong ones when someone pays a ragged amount."""
    clusters = AddressClusters()
    for tx in txs:
        clusters.add_transaction(tx)
        change = guess_change_output(tx) if use_change else None
        if change is not None and tx.inputs:
            clusters.union(input_addresses(tx)[0], tx.outputs[change].address)
    return clusters


@dataclass
class FreshKeyWallet:
    """A wallet with a new key for every payment it receives and for every change output.

    Keys come from ``name`` and a counter (``PrivateKey.from_seed``), so a notebook is reproducible;
    a real wallet derives them from a random seed (BIP 32).
    """

    name: str
    reuse: bool = False              # True: one address for everything (what the whitepaper advises against)
    keys: dict[bytes, PrivateKey] = field(default_factory=dict)
    counter: int = 0

    def new_address(self) -> bytes:
        if self.reuse and self.keys:
            return next(iter(self.keys))
        key = PrivateKey.from_seed(f"{self.name}/{self.counter}".encode())
        self.counter += 1
        self.keys[key.address()] = key
        return key.address()

    @property
    def addresses(self) -> list[bytes]:
        return list(self.keys)

    def coins(self, utxo: UtxoSet, exclude: Iterable[OutPoint] = ()) -> list[tuple[OutPoint, TxOut]]:
        skip = set(exclude)
        return [(op, out) for address in self.keys for op, out in utxo.coins_of(address) if op not in skip]

    def balance(self, utxo: UtxoSet) -> int:
        return sum(out.amount for _, out in self.coins(utxo))

    def pay(self, utxo: UtxoSet, to: bytes, amount: int, fee: int = 1000,
            exclude: Iterable[OutPoint] = ()) -> Transaction:
        """Pay ``amount`` to ``to``: smallest coins first until enough, change to a fresh address."""
        chosen, total = [], 0
        for op, out in sorted(self.coins(utxo, exclude), key=lambda c: (c[1].amount, c[0])):
            if total >= amount + fee:
                break
            chosen.append((op, out))
            total += out.amount
        if total < amount + fee:
            raise InvalidTransaction("insufficient-funds", f"{self.name} holds {total} < {amount + fee}")
        outputs = [TxOut(amount, to)]
        if total > amount + fee:
            outputs.append(TxOut(total - amount - fee, self.new_address()))
        tx = Transaction(inputs=tuple(TxIn(op.txid, op.index) for op, _ in chosen), outputs=tuple(outputs))
        for i, (_, out) in enumerate(chosen):
            tx = tx.sign_input(i, self.keys[out.address], out)
        return tx


def linkage_report(clusters: AddressClusters, owners: Mapping[bytes, str]) -> dict:
    """How much the heuristic recovered, given the truth ``owners`` (address -> owner name).

    Returns, per owner, how many of its addresses were used and how many clusters they fall in
    (1 = fully linked), plus ``wrong_links``: clusters mixing two owners (0 for this heuristic
    unless someone co-signs with another person, e.g. CoinJoin).
    """
    per_owner: dict[str, dict] = {}
    for address, owner in owners.items():
        if address not in clusters._parent:
            continue                                   # never used on chain
        entry = per_owner.setdefault(owner, {"addresses": 0, "clusters": set()})
        entry["addresses"] += 1
        entry["clusters"].add(clusters.find(address))
    wrong = sum(1 for c in clusters.clusters() if len({owners.get(a) for a in c if a in owners}) > 1)
    return {"owners": {o: {"addresses": e["addresses"], "clusters": len(e["clusters"])}
                       for o, e in sorted(per_owner.items())},
            "wrong_links": wrong}
