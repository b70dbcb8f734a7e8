"""The model layer: tokenizer, platform-independent RNG, corpus and dataset commitments,
the GPT (checked against torch.autograd and finite differences) and integer weights."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gradientcoin_edu.crypto.merkle import merkle_root
from gradientcoin_edu.errors import GradientCoinError, ModelError, ParseError
from gradientcoin_edu.model import (GPT, CharTokenizer, Dataset, GPTConfig, HashRNG, arithmetic_accuracy,
                                    builtin_datasets, from_float, generate_corpus, init_weights,
                                    load_text_file, num_params, param_spec, to_float, to_model)
from gradientcoin_edu.model import fixed_point as fp
from gradientcoin_edu.model.corpus import arithmetic_line
from gradientcoin_edu.proof_of_gradient.gradient import compute_gradient
from _fixtures import one_torch_thread  # noqa: F401 (fixtures)

TINY = GPTConfig(vocab_size=11, block_size=4, n_layer=1, n_head=2, n_embd=8)


# --- tokenizer ----------------------------------------------------------------------------

def test_tokenizer_round_trip_and_commitment():
    tok = CharTokenizer()
    text = "12+7=19\nthe cat sees a red ball.\n"
    assert tok.decode(tok.encode(text)) == text
    assert tok.vocab_size == 96
    assert CharTokenizer.parse(tok.serialize()) == tok
    assert tok.hash == hashlib.sha256(tok.serialize()).digest()
    assert tok.hash.hex() == "b11b17a93017caacba22d6fada29e4d4b0cb5ee6db993dbb075b07a8175dc205"
    assert CharTokenizer("ab").hash != CharTokenizer("ba").hash        # the order is committed too


def test_tokenizer_refuses_unknown_characters():
    with pytest.raises(ModelError) as err:
        CharTokenizer().encode("naïve")
    assert err.value.reason == "unknown-character"
    with pytest.raises(ModelError):
        CharTokenizer("aa")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_tokenizer_parse_only_raises_parse_error(data):
    try:
        tok = CharTokenizer.parse(data)
    except ParseError:
        return
    assert CharTokenizer.parse(tok.serialize()) == tok


# --- the platform-independent generator ---------------------------------------------------

def test_hash_rng_is_sha256_counter_mode():
    rng = HashRNG(b"seed")
    first = hashlib.sha256(b"seed" + (0).to_bytes(8, "little")).digest()
    assert int(rng.uint64(1)[0]) == int.from_bytes(first[:8], "little")
    assert HashRNG(b"seed").below(1000, 5).tolist() == [658, 440, 881, 854, 91]   # pinned


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=16), st.integers(1, 2**40), st.integers(0, 50))
def test_hash_rng_below_stays_in_range(seed, n, count):
    out = HashRNG(seed).below(n, count)
    assert out.shape == (count,) and (out >= 0).all() and (out < n).all()
    assert np.array_equal(out, HashRNG(seed).below(n, count))


# --- corpus and dataset ---------------------------------------------------------------------

def test_corpus_is_deterministic_and_structured():
    text = generate_corpus(0, 100)
    assert text == generate_corpus(0, 100) != generate_corpus(1, 100)
    assert hashlib.sha256(text.encode()).hexdigest() == \
        "e4b891792bc18e84716ef3c3f369ac1d49ee2e1b12aa01453038d7cbd9af5e8d"       # pinned
    lines = text.splitlines()
    sums = [line for line in lines if "+" in line]
    assert 20 < len(sums) < 80
    for line in sums:
        a, rest = line.split("+")
        b, c = rest.split("=")
        assert int(a) + int(b) == int(c) and int(a) <= 9 and int(b) <= 9
    assert arithmetic_line(12, 7) == "12+7=19\n"


def test_dataset_root_commits_to_every_record():
    train, val = builtin_datasets(32)
    assert (len(train), len(val)) == (1629, 194)
    assert train.root.hex() == "4c355389c858ee6315698cc548bdd3266410f6eddb005d5b57b2d47ac7b5a206"
    items = [train.records[i].astype("<u2").tobytes() for i in range(len(train))]
    assert train.root == merkle_root(items, "chain")
    proof = train.proof(7)
    assert Dataset.verify_record(train.records[7], proof, train.root)
    assert not Dataset.verify_record(train.records[8], proof, train.root)
    changed = train.records.copy()
    changed[5, 3] += 1
    assert Dataset(changed).root != train.root
    assert Dataset.parse(train.serialize()).root == train.root


def test_dataset_batches_are_inputs_and_next_tokens():
    train, _ = builtin_datasets(8, n_lines=200)
    x, y = train.batch([3, 0, 3])
    assert x.shape == y.shape == (3, 8) and x.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])
    assert torch.equal(x[0], x[2])


def test_load_text_file(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("hello world\n" * 20, encoding="utf-8")
    ds = load_text_file(path, block_size=10)
    assert len(ds) == 240 // 11 and ds.block_size == 10
    with pytest.raises(ModelError):
        load_text_file(path, CharTokenizer("abc"), block_size=10)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=80))
def test_dataset_parse_only_raises_parse_error(data):
    try:
        ds = Dataset.parse(data)
    except ParseError:
        return
    assert ds.serialize() == data


# --- the GPT ---------------------------------------------------------------------------------

def test_gpt_shapes_and_presets():
    cfg = GPTConfig.preset("micro")
    model = GPT(cfg)
    idx = torch.zeros(2, 5, dtype=torch.long)
    logits, loss = model(idx, idx)
    assert logits.shape == (2, 5, cfg.vocab_size) and loss.ndim == 0
    assert model.num_params() == num_params(cfg)
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in param_spec(cfg)]
    assert num_params(GPTConfig.preset("nano")) == 108288
    assert GPTConfig.parse(cfg.serialize()) == cfg
    with pytest.raises(ModelError):
        GPTConfig.preset("huge")
    with pytest.raises(ModelError):
        model(torch.zeros(1, cfg.block_size + 1, dtype=torch.long))


def test_generation_is_greedy_and_deterministic():
    tok = CharTokenizer()
    model = to_model(GPTConfig.preset("micro"), init_weights(GPTConfig.preset("micro"), 0))
    a = model.complete(tok, "1+2=", 4)
    assert len(a) == 4 and a == model.complete(tok, "1+2=", 4)
    acc = arithmetic_accuracy(lambda p, n: model.complete(tok, p, n), pairs=[(1, 2), (3, 4)])
    assert 0.0 <= acc <= 1.0
    assert arithmetic_accuracy(lambda p, n: f"{eval(p.strip()[:-1])}\n") == 1.0        # an oracle


def test_gradient_matches_torch_autograd_in_float64():
    """Our canonical gradient (integer weights -> float64 -> backward) on the nano model equals a
    plain torch.autograd pass on a float64 model holding the same weights."""
    cfg = GPTConfig.preset("nano")
    w = init_weights(cfg, 3)
    train, _ = builtin_datasets(cfg.block_size, n_lines=400)
    x, y = train.batch([0, 5, 9])
    g, loss = compute_gradient(cfg, w, x, y)
    model = to_model(cfg, w)
    _, ref_loss = model(x, y)
    ref = torch.autograd.grad(ref_loss, list(model.parameters()))
    ref = torch.cat([r.reshape(-1) for r in ref]).numpy()
    assert g.dtype == np.float64 and g.shape == (num_params(cfg),)
    np.testing.assert_array_equal(g, ref)
    assert loss == ref_loss.item()


def test_gradcheck_on_a_tiny_config():
    """Analytic gradients against finite differences (torch.autograd.gradcheck), all parameters."""
    model = to_model(TINY, init_weights(TINY, 1, init_range_log2=-2))
    names = [n for n, _ in model.named_parameters()]
    params = {n: p.detach().clone().requires_grad_(True) for n, p in model.named_parameters()}
    x = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    y = torch.tensor([[2, 3, 4, 5], [6, 7, 8, 9]])

    def loss_of(*tensors):
        return torch.func.functional_call(model, dict(zip(names, tensors)), (x, y))[1]

    assert torch.autograd.gradcheck(loss_of, tuple(params[n] for n in names), eps=1e-6, atol=1e-6, fast_mode=True)


# --- integer weights ------------------------------------------------------------------------

def test_fixed_point_round_trip():
    w = np.array([0, 1, -1, 2**40, -(2**52)], dtype=np.int64)
    assert np.array_equal(from_float(to_float(w)), w)
    assert from_float([0.5 * 2.0**-32, 1.5 * 2.0**-32]).tolist() == [0, 2]   # half to even
    with pytest.raises(ModelError):
        from_float([float("nan")])
    with pytest.raises(ModelError):
        from_float([2.0**31])


def test_init_is_deterministic_and_pinned():
    cfg = GPTConfig.preset("micro")
    w = init_weights(cfg, 0)
    assert w.dtype == np.int64 and w.shape == (num_params(cfg),)
    assert np.array_equal(w, init_weights(cfg, 0)) and not np.array_equal(w, init_weights(cfg, 1))
    assert hashlib.sha256(fp.weights_bytes(w)).hexdigest() == \
        "311fdf607abe0d563bcc7753ecf1be9ea98a7b84c35891a4ae2ee7af4a165286"    # pinned: any platform
    values = to_float(w)
    model = to_model(cfg, w)
    assert model.transformer.ln_f.weight.eq(1).all() and model.transformer.ln_f.bias.eq(0).all()
    assert np.abs(values).max() <= 1.0 and 0.015 < model.transformer.wte.weight.abs().max().item() <= 2**-5
    assert np.array_equal(fp.from_model(model), w)


def test_weights_root_is_merkle_over_chunk_digests():
    w = init_weights(GPTConfig.preset("micro"), 0)
    data = fp.weights_bytes(w)
    chunks = [data[i:i + 256] for i in range(0, len(data), 256)]
    expected = merkle_root([hashlib.sha256(c).digest() for c in chunks], "chain")
    assert fp.weights_root(w, 256) == expected
    chunk, proof = fp.weights_chunk_proof(w, 3, 256)
    assert chunk == chunks[3] and fp.verify_weights_chunk(chunk, proof, expected)
    assert not fp.verify_weights_chunk(chunks[4], proof, expected)
    w2 = w.copy()
    w2[-1] += 1                                       # one unit in the last place of one weight
    assert fp.weights_root(w2, 256) != expected


def test_errors_carry_reasons():
    with pytest.raises(GradientCoinError) as err:
        fp.load_weights(GPT(GPTConfig.preset("micro")), np.zeros(3, dtype=np.int64))
    assert err.value.reason == "weights-size"
