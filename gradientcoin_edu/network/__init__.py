"""Network layer: many nodes, none in charge, agreeing on one chain (whitepaper section 5).

One concept per module:

* ``messages``      - the bytes nodes send each other (envelope, inv/getdata/block/tx, getblocks, ...)
* ``peers``         - misbehaviour scores, rate limits and bans
* ``mempool``       - valid transactions waiting to be mined
* ``node``          - the node logic, written once, independent of the transport
* ``simulator``     - a seeded discrete-event network of nodes (latency, loss, partitions, crashes)
* ``zmq_transport`` - the same nodes as real processes over CURVE-authenticated ZeroMQ (``gradientcoin node``
                    is ``gradientcoin_edu/node_cli.py``, above this layer: it plugs each kind of chain in)
* ``keys``          - a node's CURVE key pair in its data dir, secret files written safely, ``PUBKEY@tcp://host:port``
* ``attacks``       - the double-spend race of section 11, and floods against one node (docs/protocol.md 10)

Taught in notebooks 04 and 05. (``zmq_transport`` is imported only when used.)
"""
from .mempool import Mempool
from .node import Node, NodeConfig
from .peers import PeerBook, PeerPolicy
from .simulator import LinkSpec, Simulator

__all__ = ["Mempool", "Node", "NodeConfig", "PeerBook", "PeerPolicy", "LinkSpec", "Simulator"]
