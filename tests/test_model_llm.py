"""LLM-ASR (model.llm_asr): the LLaMA decoder's KV cache, causality and padding, the loss's targets, parameter
accounting on the meta device, and a tiny model that learns a synthetic task on CPU and decodes it back."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from omnicorpus.model.ctc import edit_distance
from omnicorpus.model.llama import KVCache, LlamaDecoder, apply_rope, get_decoder_config, llama_ffn_dim
from omnicorpus.model.llm_asr import LLMASRModel, count_parameters_on_meta, drop_languages
from omnicorpus.model.vocab import build_vocab
from omnicorpus.model.wav2vec2 import Wav2Vec2Encoder, count_parameters, get_config

LANGS = ["eng_Latn", "fra_Latn"]
TEXTS = ["abc", "bad", "cab a", "dace", "ed", "bead", "ace b", "deb"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _decoder(seed: int = 0, **overrides: object) -> LlamaDecoder:
    torch.manual_seed(seed)
    return LlamaDecoder(get_decoder_config("llm-tiny", **overrides), vocab_size=20).eval()


def _tiny_model(seed: int = 0, stack: int = 2, **kwargs: object) -> LLMASRModel:
    torch.manual_seed(seed)
    vocab = build_vocab(TEXTS, languages=LANGS)
    return LLMASRModel(get_config("tiny", layers=1), get_decoder_config("llm-tiny"), vocab, stack=stack,
                       **kwargs)  # type: ignore[arg-type]


def _cer(refs: list[str], hyps: list[str]) -> float:
    return sum(edit_distance(r, h) for r, h in zip(refs, hyps, strict=True)) / sum(len(r) for r in refs)


@pytest.mark.parametrize("kv_heads", [None, 2])
def test_kv_cache_incremental_logits_equal_the_full_forward(kv_heads):
    dec = _decoder(kv_heads=kv_heads)
    tokens = torch.randint(0, 20, (3, 10))
    with torch.no_grad():
        full = dec.project(dec(dec.embed(tokens)))
        cache = KVCache(dec.cfg, 3, 10, "cpu", torch.float32)
        steps = [dec.project(dec(dec.embed(tokens[:, :4]), cache))]  # prefill 4, then one at a time
        steps += [dec.project(dec(dec.embed(tokens[:, t:t + 1]), cache)) for t in range(4, 10)]
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)
    assert cache.lengths.tolist() == [10, 10, 10]

    # rows at different offsets: right-padded prefixes of 2, 5 and 7 tokens, the true lengths set after the
    # prefill, then each row's continuation; every row's logits are those of its own full sequence
    prefix = [2, 5, 7]
    with torch.no_grad():
        cache = KVCache(dec.cfg, 3, 12, "cpu", torch.float32)
        padded = tokens[:, :7].clone()
        for b, n in enumerate(prefix):
            padded[b, n:] = 0
        dec(dec.embed(padded), cache)
        cache.lengths = torch.tensor(prefix)
        for t in range(3):
            nxt = torch.stack([tokens[b, n + t] for b, n in enumerate(prefix)])
            got = dec.project(dec(dec.embed(nxt[:, None]), cache))[:, 0]
            for b, n in enumerate(prefix):
                alone = dec.project(dec(dec.embed(tokens[b:b + 1, : n + t + 1])))[0, -1]
                torch.testing.assert_close(got[b], alone, atol=1e-5, rtol=1e-5)


def test_rope_is_the_complex_rotation_and_depends_on_relative_positions():
    torch.manual_seed(3)
    x = torch.randn(2, 5, 3, 8)  # [N, S, heads, head_dim]
    pos = torch.tensor([[0, 1, 2, 7, 100], [3, 3, 4, 5, 9]])
    got = apply_rope(x, pos, 10_000.0)
    # independent form: pair (x[2i], x[2i+1]) as a complex number times exp(i * pos * theta^(-2i/hd))
    freqs = 10_000.0 ** (-torch.arange(0, 8, 2, dtype=torch.float64) / 8)
    z = torch.view_as_complex(x.double().reshape(2, 5, 3, 4, 2).contiguous())
    angles = pos.double()[..., None, None] * freqs
    want = torch.view_as_real(z * torch.polar(torch.ones_like(angles), angles)).reshape(x.shape)
    torch.testing.assert_close(got, want.float(), atol=1e-5, rtol=1e-5)
    assert (got[:, 1:] - x[:, 1:]).abs().amax() > 0.1
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(m: int, n: int) -> float:
        return float((apply_rope(q, torch.tensor([[m]]), 1e4) * apply_rope(k, torch.tensor([[n]]), 1e4)).sum())

    assert score(5, 2) == pytest.approx(score(13, 10), abs=1e-5)
    assert score(5, 2) != pytest.approx(score(5, 4), abs=1e-3)


def test_decoder_is_causal():
    dec = _decoder()
    tokens = torch.randint(0, 20, (2, 10))
    changed = tokens.clone()
    changed[:, 6] = (changed[:, 6] + 1) % 20
    with torch.no_grad():
        a, b = (dec.project(dec(dec.embed(t))) for t in (tokens, changed))
    torch.testing.assert_close(a[:, :6], b[:, :6], atol=1e-6, rtol=0)
    assert (a[:, 6:] - b[:, 6:]).abs().amax() > 1e-3  # the change is seen from its own position on


def test_batch_padding_does_not_change_an_utterances_logits_or_loss():
    model = _tiny_model().eval()
    torch.manual_seed(1)
    short, long = torch.randn(1, 3000), torch.randn(1, 5200)
    audio = torch.zeros(2, 5200)
    audio[0, :3000], audio[1] = short[0], long[0]
    lengths = torch.tensor([3000, 5200])
    tokens, token_lengths = model.encode_texts(["ab", "cab a de"])
    lang = model.language_ids(["eng_Latn", None])
    with torch.no_grad():
        batch, seq_lengths, _ = model.logits(audio, lengths, tokens, token_lengths, lang)
        alone, alone_lengths, _ = model.logits(short, None, tokens[:1, :2], token_lengths[:1], lang[:1])
        n = int(alone_lengths[0])
        assert int(seq_lengths[0]) == n < int(seq_lengths[1])
        torch.testing.assert_close(batch[0, :n], alone[0], atol=1e-5, rtol=1e-5)
        loss, count = model(audio, lengths, tokens, token_lengths, lang)
        parts = [model(w, None, tokens[i:i + 1, : int(token_lengths[i])], token_lengths[i:i + 1], lang[i:i + 1])
                 for i, w in enumerate((short, long))]
    torch.testing.assert_close(loss, sum(p[0] for p in parts), atol=1e-4, rtol=1e-5)
    assert int(count) == sum(int(p[1]) for p in parts) == 2 + 1 + 8 + 1


@pytest.mark.parametrize("omit", [False, True])
def test_loss_is_cross_entropy_on_the_text_tokens_and_eos_only(omit):
    model = _tiny_model(omit_missing_language=omit).eval()
    torch.manual_seed(2)
    audio, lengths = torch.randn(3, 4000), torch.tensor([4000, 2500, 3300])
    texts = ["dace", "a b", "bead ed"]
    tokens, token_lengths = model.encode_texts(texts)
    lang = model.language_ids(["eng_Latn", "fra_Latn", "eng_Latn"])
    given = torch.tensor([True, False, True])
    with torch.no_grad():
        loss, n = model(audio, lengths, tokens, token_lengths, lang, given)
        logits, seq_lengths, bos = model.logits(audio, lengths, tokens, token_lengths, lang, given)
    frames = torch.div(model.encoder.output_lengths(lengths) + 1, 2, rounding_mode="floor")
    marker = torch.tensor([2, 0 if omit else 2, 2])
    assert bos.tolist() == (frames + marker).tolist()
    assert seq_lengths.tolist() == (frames + marker + token_lengths + 2).tolist()
    manual, count = torch.zeros(()), 0
    for b, text in enumerate(texts):
        targets = torch.tensor(model.vocab.encode(text) + [model.eos_id])
        rows = logits[b, int(bos[b]): int(bos[b]) + len(targets)]  # outputs at <s>, text[0], ..., text[-1]
        manual = manual + F.cross_entropy(rows, targets, reduction="sum")
        count += len(targets)
    assert int(n) == count == sum(len(model.vocab.encode(t)) + 1 for t in texts)
    torch.testing.assert_close(loss, manual, atol=1e-4, rtol=1e-5)


def test_language_dropout_and_not_given_languages():
    model = _tiny_model()
    ids = model.language_ids(["eng_Latn", "fra_Latn", None, "xxx_Latn"])
    assert ids.tolist() == [1, 2, 0, 0]  # row 0: not given or unknown
    many = torch.ones(4000, dtype=torch.long)
    kept = drop_languages(many, 0.5, torch.Generator().manual_seed(0))
    assert 0.45 < float((kept == 0).float().mean()) < 0.55
    assert torch.equal(kept, drop_languages(many, 0.5, torch.Generator().manual_seed(0)))
    assert torch.equal(drop_languages(many, 0.0), many)
    # the language reaches the decoder: the first prediction differs between eng, fra and none
    model.eval()
    audio, tokens = torch.randn(1, 3200).expand(3, -1), torch.tensor([[8, 9]] * 3)  # one waveform, 3 times
    with torch.no_grad():
        logits, _, bos = model.logits(audio, None, tokens, torch.tensor([2, 2, 2]), torch.tensor([1, 2, 0]))
    first = logits[torch.arange(3), bos]
    audio_part = logits[:, : int(bos[0]) - 1]  # up to <lid>: the same inputs, so the same outputs
    torch.testing.assert_close(audio_part[0], audio_part[1], atol=1e-5, rtol=0)
    assert (first[0] - first[1]).abs().amax() > 1e-3 and (first[0] - first[2]).abs().amax() > 1e-3


def test_meta_parameter_count_of_the_12x4096_decoder():
    V, D, L, H = 9812, 4096, 12, 8
    ffn = int(4096 * 2 / 3)
    ffn = 256 * math.ceil(ffn / 256)
    assert ffn == llama_ffn_dim(4096) == 2816
    cfg = get_decoder_config("llama-12x4096")
    assert (cfg.dim, cfg.layers, cfg.heads, cfg.ffn_dim) == (D, L, H, ffn)
    per_layer = 4 * D * D + 3 * D * ffn + 2 * D  # q, k, v, out; SwiGLU gate, inner, out; two RMSNorms
    expected = (V + 1) * D + L * per_layer + D + V * D  # embedding (+ <lid>), blocks, final norm, output
    n = count_parameters_on_meta("llama-12x4096", vocab_size=V)
    assert n == expected
    assert 1.3e9 < n < 1.35e9
    with torch.device("meta"):
        encoder = count_parameters(Wav2Vec2Encoder(get_config("300m")))
    whole = count_parameters_on_meta("llama-12x4096", "300m", vocab_size=V, languages=1693)
    assert whole == expected + encoder + (1024 + 1) * D + (1693 + 1) * D  # + projection, language table
    assert 1.6e9 < whole < 1.7e9


@pytest.fixture(scope="module")
def trained():
    """llm-tiny on a 1-layer tiny encoder, trained on 8 fixed random waveforms of 3200-4800 samples, each
    with a distinct text, the language dropped on half the examples; (model, audio, lengths, languages,
    untrained greedy CER with and without the language)."""
    model = _tiny_model(seed=0)
    gen = torch.Generator().manual_seed(0)
    lengths = torch.tensor([4800, 3200, 4000, 4400, 3600, 4800, 3400, 4200])
    audio = torch.randn(8, 4800, generator=gen) * (torch.arange(4800)[None] < lengths[:, None])
    lang = model.language_ids(LANGS * 4)
    tokens, token_lengths = model.encode_texts(TEXTS)
    model.eval()
    untrained = [_cer(TEXTS, model.transcribe(audio, lengths, langs, max_new_tokens=12))
                 for langs in (LANGS * 4, None)]
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    losses = []
    for _ in range(80):
        loss, n = model(audio, lengths, tokens, token_lengths, drop_languages(lang, 0.5, gen))
        opt.zero_grad()
        (loss / n).backward()
        opt.step()
        losses.append(float(loss.detach() / n))
    model.eval()
    return model, audio, lengths, lang, untrained, losses


def test_tiny_llm_asr_learns_a_synthetic_task_and_greedy_decodes_it(trained):
    model, audio, lengths, lang, untrained, losses = trained
    assert min(untrained) > 0.8
    assert losses[-1] < 0.05 * losses[0]
    with_lang = model.transcribe(audio, lengths, LANGS * 4, max_new_tokens=12)
    without = model.transcribe(audio, lengths, None, max_new_tokens=12)
    assert _cer(TEXTS, with_lang) < 0.2 and _cer(TEXTS, without) < 0.2
    assert sum(h == r for h, r in zip(with_lang, TEXTS, strict=True)) >= 6
    # batched decoding (rows at different prefix lengths in one cache) is each utterance's own
    alone = [model.greedy(audio[i:i + 1, : int(lengths[i])], None, lang[i:i + 1], 12)[0] for i in range(8)]
    assert model.greedy(audio, lengths, lang, 12) == alone


def test_beam_search(trained):
    model, audio, lengths, lang, _, _ = trained
    greedy = model.greedy(audio, lengths, lang, 12)
    beam1 = model.beam_search(audio, lengths, lang, beam=1, nbest=1, max_new_tokens=12)
    assert [h[0].tokens for h in beam1] == greedy
    nbest = model.beam_search(audio, lengths, None, beam=4, nbest=4, max_new_tokens=12)
    assert all(len(hyps) == 4 for hyps in nbest)
    for hyps in nbest:
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.tokens) for h in hyps}) == 4  # distinct hypotheses
    # a finished hypothesis's score is the model's log-probability of its text and </s> (teacher forced)
    hyp = nbest[2][1]
    assert hyp.finished
    tokens = torch.tensor([hyp.tokens])
    with torch.no_grad():
        loss, _ = model(audio[2:3, : int(lengths[2])], None, tokens, torch.tensor([len(hyp.tokens)]), None)
    assert hyp.score == pytest.approx(-float(loss), abs=1e-3)
    assert nbest[2][0].text == model.vocab.decode(nbest[2][0].tokens)
    # the length penalty divides by the length: with it, scores are per-token and still sorted
    normed = model.beam_search(audio[:2], lengths[:2], None, beam=4, nbest=3, length_penalty=1.0,
                               max_new_tokens=12)
    for hyps in normed:
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
