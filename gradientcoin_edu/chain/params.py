"""[consensus] Chain parameters: the constants every node of one network must agree on.

A ``ChainParams`` fixes the genesis block, the easiest allowed target (``pow_limit_bits``),
how often blocks should come (``target_spacing``) and how often difficulty is retargeted,
the block reward and its halving schedule (whitepaper section 6), the size limit and the
timestamp rules. Two nodes with different parameters are on different networks.

Presets (``ChainParams.preset(name)``):

* ``"regtest"`` — for tests and notebooks: about 2 hashes per block (instant), no
  retargeting, halving every 150 blocks (as Bitcoin's regtest).
* ``"demo"``   — for ``gradientcoin demo``: about 16 000 hashes per block (~0.1 s on one
  CPU core), retargeting every 10 blocks towards one block per 10 s.
* ``"bitcoin"`` — Bitcoin's real mainnet constants, to compare with and to check the
  supply (20 999 999.9769 BTC) and retargeting against Bitcoin Core. Not for mining. Like
  mainnet it does not enforce the time-warp rules (``enforce_timewarp``); every other preset
  does (they only matter where difficulty retargets: BIP 94, ``docs/protocol.md`` section 9).

Taught in notebook 03.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..ledger import COIN      # smallest units per coin (Bitcoin's satoshis)
from .bits import bits_to_target

__all__ = ["COIN", "ChainParams", "PRESETS", "get_params", "genesis_block"]


@dataclass(frozen=True)
class ChainParams:
    """Consensus constants of one network. Use ``ChainParams.preset(name)`` or ``replace``."""

    name: str = "regtest"
    genesis_time: int = 1_700_000_000          # 2023-11-14, seconds since 1970
    genesis_message: bytes = b"GradientCoin: Gao, Song, Yin, arXiv 2308.10502 (2023)"
    pow_limit_bits: int = 0x207FFFFF           # easiest target allowed (2^255 - 1: ~2 hashes)
    genesis_bits: int | None = None            # difficulty of block 1 (default: pow_limit_bits)
    target_spacing: int = 600                  # seconds per block the retarget aims for
    retarget_interval: int = 0                 # blocks between retargets; 0 = never
    max_adjust_factor: int = 4                 # one retarget changes the target by at most 4x
    initial_subsidy: int = 50 * COIN           # block reward of the first era
    halving_interval: int = 150                # blocks per era; the reward halves after each
    max_block_bytes: int = 4_000_000           # serialized block, payload included
    max_future_seconds: int = 2 * 60 * 60      # a block may be at most 2 hours ahead of our clock
    mtp_window: int = 11                       # median-time-past over the last 11 blocks
    enforce_timewarp: bool = True              # BIP 94 / BIP 54 time-warp rules on retargeting chains
    timewarp_grace_seconds: int | None = None  # how far a period's first block may precede its parent
                                               # (default: BIP 94's 600 s of a 2016 x 600 s period,
                                               # scaled: target_timespan // 2016)

    def __post_init__(self):
        bits_to_target(self.pow_limit_bits)                    # raises on a malformed limit
        if self.start_bits != self.pow_limit_bits and bits_to_target(self.start_bits) > self.pow_limit:
            raise ValueError("genesis_bits is easier than pow_limit_bits")
        if self.halving_interval <= 0 or self.target_spacing <= 0 or self.mtp_window <= 0:
            raise ValueError("halving_interval, target_spacing and mtp_window must be positive")

    # --- difficulty ---
    @property
    def pow_limit(self) -> int:
        """The easiest (largest) target any block may have."""
        return bits_to_target(self.pow_limit_bits)

    @property
    def start_bits(self) -> int:
        """Bits of the genesis block and of the first retarget period."""
        return self.pow_limit_bits if self.genesis_bits is None else self.genesis_bits

    @property
    def timewarp_grace(self) -> int:
        """Seconds the first block of a difficulty period may be earlier than its parent: by default
        the share of a period that BIP 94 allows Bitcoin (600 s of 2016 x 600 s), so the speed-up a
        time-stamping miner can get stays as small as on testnet4 (``docs/protocol.md`` section 9)."""
        if self.timewarp_grace_seconds is not None:
            return self.timewarp_grace_seconds
        return self.target_timespan // 2016

    @property
    def target_timespan(self) -> int:
        """Seconds one retarget period should take."""
        return self.retarget_interval * self.target_spacing

    # --- incentives (whitepaper section 6) ---
    def subsidy(self, height: int) -> int:
        """New coins the coinbase at ``height`` may create: halves every ``halving_interval``."""
        halvings = height // self.halving_interval
        return 0 if halvings >= 64 else self.initial_subsidy >> halvings

    def total_supply(self) -> int:
        """Sum of ``subsidy(h)`` over all heights h >= 0: the supply cap.

        Like Bitcoin's famous 20 999 999.9769 BTC, this counts the genesis block's share,
        which nobody can spend (here genesis has no coinbase at all)."""
        total, era = 0, 0
        while (reward := self.initial_subsidy >> era) > 0 and era < 64:
            total += reward * self.halving_interval
            era += 1
        return total

    # --- presets ---
    @classmethod
    def preset(cls, name: str) -> "ChainParams":
        try:
            return PRESETS[name]
        except KeyError:
            raise KeyError(f"unknown chain preset {name!r}; known: {', '.join(PRESETS)}") from None

    def with_changes(self, **changes) -> "ChainParams":
        """A copy with some fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)


PRESETS: dict[str, ChainParams] = {
    "regtest": ChainParams(),
    "demo": ChainParams(name="demo", genesis_bits=0x1F03FFFF, target_spacing=10,
                        retarget_interval=10, halving_interval=100),
    "bitcoin": ChainParams(name="bitcoin", genesis_time=1231006505,
                           genesis_message=b"The Times 03/Jan/2009 Chancellor on brink of second bailout for banks",
                           pow_limit_bits=0x1D00FFFF, target_spacing=600, retarget_interval=2016,
                           halving_interval=210_000, max_block_bytes=4_000_000,
                           enforce_timewarp=False),        # mainnet has no time-warp rule (testnet4 has)
}


def get_params(name_or_params: "str | ChainParams") -> ChainParams:
    """Accept a preset name or a ``ChainParams`` and return the ``ChainParams``."""
    return name_or_params if isinstance(name_or_params, ChainParams) else ChainParams.preset(name_or_params)


def genesis_block(params: ChainParams, *, grad_root: bytes | None = None, weights_root: bytes | None = None,
                  payload: bytes = b"", miner_id: bytes | None = None):
    """Block 0 of the network: hard-coded in every node, never mined or checked for work.

    Its only transaction is a coinbase at height 0 that carries ``params.genesis_message``
    (as Bitcoin's genesis carries a newspaper headline) and pays nothing (one 0-unit
    output to the all-zero address). Proof-of-gradient passes the initial ``weights_root``.
    """
    from ..ledger import Transaction, TxOut
    from .block import ZERO_HASH, Block, BlockHeader, compute_tx_root

    coinbase = Transaction.coinbase(0, [TxOut(0, bytes(20))], extra=params.genesis_message)
    header = BlockHeader(
        version=1, prev_hash=ZERO_HASH, tx_root=compute_tx_root([coinbase]),
        grad_root=grad_root or ZERO_HASH, weights_root=weights_root or ZERO_HASH,
        time=params.genesis_time, bits=params.start_bits, nonce=0, miner_id=miner_id or ZERO_HASH,
    )
    return Block(header, (coinbase,), payload)
