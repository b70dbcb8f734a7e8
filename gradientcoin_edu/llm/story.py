"""[tooling] The demo's story, written once: a miner pays ada, she adds her text, she asks the model.

``gradientcoin demo`` tells it on the simulated network (``demo.run_llm_demo``) and with real
node processes steered through their RPC (``llm/processes.py``). Both ask :class:`Story` what to
do next from a :class:`StoryView` of the network (heights, balances, whether ada's transactions
are mined) and carry the answer out their own way. Each step waits until the previous one is
*confirmed* (mined), so no step ever spends coins that are not there yet: in particular the
query is paid from the change of ada's contribution only once that change is on chain.

:meth:`Story.waiting_for` says in words what the story waits for, so a demo that runs out of
time can say why instead of hanging silently.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ledger import COIN

__all__ = ["Story", "StoryView", "Action", "CONTRIBUTION", "SAMPLE_PROMPTS", "QUERY_PROMPT", "QUERY_TOKENS",
           "PAYMENT", "contribution_text"]

SAMPLE_PROMPTS = ("\n3+4=", "\nthe cat ", "\nada has ")
CONTRIBUTION = "".join(f"{a}+{b}={a + b}\n" for a in range(10) for b in range(0, 10, 2))   # ada's text: 50 sums
QUERY_PROMPT = "\n3+4="
QUERY_TOKENS = 8
PAYMENT = 10 * COIN                     # what a miner pays ada
PAYMENT_FEE = 1000


def contribution_text(params) -> str:
    """As much of ada's text as one contribution may carry under ``params`` (LLMParams)."""
    return CONTRIBUTION[: params.max_records_per_tx * params.record_tokens]


@dataclass(frozen=True)
class StoryView:
    """What the story needs to know about the network now."""

    height: int                                     # the lowest height among the nodes
    miner_balances: dict[str, int]                  # confirmed coins per miner
    ada_balance: int                                # ada's confirmed coins
    ada_pending: bool = False                       # a transaction of hers waits in a mempool
    answered: bool = False                          # her query is in a block


@dataclass(frozen=True)
class Action:
    """``pay`` (miner -> ada, ``amount``), ``contribute`` (``text``) or ``ask`` (``prompt``, ``tokens``)."""

    kind: str
    miner: str = ""
    amount: int = 0
    text: str = ""
    prompt: str = ""
    tokens: int = QUERY_TOKENS


@dataclass
class Story:
    """Stages: pay -> contribute -> train (until ``blocks``) -> ask -> answered."""

    blocks: int
    contribution: str = CONTRIBUTION
    data_fee: int = 0                               # what the contribution costs (smallest units)
    query_fee: int = 0
    stage: str = "pay"
    log: list[str] = field(default_factory=list)

    def next_action(self, view: StoryView) -> Action | None:
        """The next thing to do, or None (wait). Call again after each block."""
        if self.stage == "pay":
            rich = [m for m, b in sorted(view.miner_balances.items(), key=lambda kv: (-kv[1], kv[0]))
                    if b >= PAYMENT + PAYMENT_FEE]
            if rich:
                self.stage = "paid"
                return Action("pay", miner=rich[0], amount=PAYMENT)
        elif self.stage == "paid":
            if not view.ada_pending and view.ada_balance >= self.data_fee + 1:
                self.stage = "contributed"
                return Action("contribute", text=self.contribution)
        elif self.stage == "contributed":
            if (not view.ada_pending and view.height >= self.blocks
                    and view.ada_balance >= self.query_fee + 1):
                self.stage = "asked"
                return Action("ask", prompt=QUERY_PROMPT, tokens=QUERY_TOKENS)
        elif self.stage == "asked" and view.answered:
            self.stage = "done"
        return None

    @property
    def done(self) -> bool:
        return self.stage == "done"

    def waiting_for(self) -> str:
        """In words: what the story is waiting for at this stage."""
        return {
            "pay": f"a miner with {PAYMENT // COIN} coins to pay ada (is anyone mining?)",
            "paid": "ada's payment to be mined",
            "contributed": f"ada's contribution to be mined and the chain to reach height {self.blocks}",
            "asked": "a block that answers ada's query",
            "done": "nothing",
        }[self.stage]
