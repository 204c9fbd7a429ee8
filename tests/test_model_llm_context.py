"""LLM-ASR in context (model.llm_asr with context_slots, model.llm_context): the zero-shot layout built by hand,
the loss on the target's text only, batch padding, the KV cache and beam search with a context prefix, the
state dict without the flag, max_seq_len, and a tiny model that learns a task it can only solve from its
context."""

from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F

from omnicorpus.model.llama import get_decoder_config
from omnicorpus.model.llm_asr import LLMASRModel
from omnicorpus.model.llm_context import (
    CONTEXT_BOS,
    CONTEXT_END,
    CONTEXT_EOS,
    CONTEXT_START,
    EXAMPLE_END,
    EXAMPLE_START,
    MARKERS,
    Context,
    fill_slots,
)
from omnicorpus.model.vocab import build_vocab
from omnicorpus.model.wav2vec2 import get_config

LANGS = ["eng_Latn", "fra_Latn"]
TEXTS = ["abc", "bad", "cab a", "dace", "ed", "bead", "ace b", "deb"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model(seed: int = 0, slots: int = 3, stack: int = 2, **decoder: object) -> LLMASRModel:
    torch.manual_seed(seed)
    vocab = build_vocab(TEXTS, languages=LANGS)
    return LLMASRModel(get_config("tiny", layers=1), get_decoder_config("llm-tiny", **decoder), vocab, stack=stack,
                       context_slots=slots).eval()


def _examples(gen: torch.Generator, spec: list[list[tuple[int, str]]]) -> list[list[tuple[torch.Tensor, str]]]:
    """(waveform of n samples, text) per (n, text) in spec."""
    return [[(torch.randn(n, generator=gen), text) for n, text in per] for per in spec]


def _batch(seed: int = 1):
    """2 targets of 4000 and 2600 samples (the second right-padded) with texts "abc", "d", and two context
    examples each of different lengths (one with an empty text), which 3 slots repeat (a, b, a)."""
    gen = torch.Generator().manual_seed(seed)
    spec = [[(2000, "ab"), (3000, "c e")], [(1500, ""), (900, "dd")]]
    examples = _examples(gen, spec)
    audio = torch.randn(2, 4000, generator=gen)
    lengths = torch.tensor([4000, 2600])
    audio[1, 2600:] = 0
    return examples, audio, lengths, ["abc", "d"]


def test_make_context_fills_the_slots_in_order_and_checks_its_shapes():
    model = _model()
    gen = torch.Generator().manual_seed(0)
    (ex0, ex1) = _examples(gen, [[(300, "ab"), (500, "c")], [(200, "dace")]])
    ctx = model.make_context([ex0, ex1], slots=5)
    assert ctx.slots == 5 and ctx.targets == 2 and ctx.audio.shape == (10, 500)
    order = [ex0[0], ex0[1], ex0[0], ex0[1], ex0[0]] + [ex1[0]] * 5
    for r, (wave, text) in enumerate(order):
        n = wave.shape[0]
        assert int(ctx.audio_lengths[r]) == n
        assert torch.equal(ctx.audio[r, :n], wave) and not ctx.audio[r, n:].any()
        assert ctx.tokens[r, : int(ctx.token_lengths[r])].tolist() == model.vocab.encode(text)
    assert model.make_context([ex0]).slots == 3  # the model's context_slots by default
    assert fill_slots([1, 2, 3, 4, 5], 3) == [1, 2, 3]  # more than the slots: the first ones
    with pytest.raises(ValueError, match="at least one"):
        model.make_context([ex0, []])
    with pytest.raises(ValueError, match="waveform"):
        model.make_context([[(torch.zeros(2, 100), "a")]])
    assert model.make_context([[(torch.zeros(1, 100), "a")]]).audio.shape == (3, 100)  # [1, T] is a waveform
    with pytest.raises(ValueError, match="whole targets"):
        Context(ctx.audio[:7], ctx.audio_lengths[:7], ctx.tokens[:7], ctx.token_lengths[:7], 5)
    moved = ctx.to("cpu")
    assert torch.equal(moved.audio, ctx.audio) and moved.slots == 5


def test_layout_is_the_context_block_then_audio_bos_text_eos():
    model = _model()
    examples, audio, lengths, texts = _batch()
    ctx = model.make_context(examples)
    tokens, token_lengths = model.encode_texts(texts)
    M, E = model.context_markers.weight, model.decoder.embed.weight
    with torch.no_grad():
        x, seq_lengths, bos = model._inputs(audio, lengths, None, tokens, token_lengths, None, ctx)
        prefix, prefix_lengths, prefix_bos = model._inputs(audio, lengths, None, None, None, None, ctx)
        for b in range(2):
            # by hand: every piece embedded on its own, concatenated in the order
            parts, markers = [M[CONTEXT_START][None]], [(0, CONTEXT_START)]
            for j in range(3):
                r = b * 3 + j
                emb, n = model.embed_audio(ctx.audio[r:r + 1, : int(ctx.audio_lengths[r])])
                text = E[torch.tensor(model.vocab.encode(examples[b][j % 2][1]), dtype=torch.long)]
                at = sum(p.shape[0] for p in parts)
                markers += [(at, EXAMPLE_START), (at + 1 + int(n[0]), CONTEXT_BOS),
                            (at + 2 + int(n[0]) + text.shape[0], CONTEXT_EOS),
                            (at + 3 + int(n[0]) + text.shape[0], EXAMPLE_END)]
                parts += [M[EXAMPLE_START][None], emb[0, : int(n[0])], M[CONTEXT_BOS][None], text,
                          M[CONTEXT_EOS][None], M[EXAMPLE_END][None]]
            markers.append((sum(p.shape[0] for p in parts), CONTEXT_END))
            parts.append(M[CONTEXT_END][None])
            emb, n = model.embed_audio(audio[b:b + 1, : int(lengths[b])])
            parts.append(emb[0, : int(n[0])])
            at_bos = sum(p.shape[0] for p in parts)
            ids = [model.bos_id] + model.vocab.encode(texts[b]) + [model.eos_id]
            parts.append(E[torch.tensor(ids)])
            want = torch.cat(parts)
            n_all = want.shape[0]
            assert int(seq_lengths[b]) == n_all and int(bos[b]) == at_bos
            torch.testing.assert_close(x[b, :n_all], want, atol=1e-5, rtol=1e-5)
            assert not x[b, n_all:].any()  # right padding is zeros
            for at, marker in markers:
                assert torch.equal(x[b, at], M[marker])
            # the decoding prefix is the same sequence up to and including <s>
            assert int(prefix_lengths[b]) == at_bos + 1 and int(prefix_bos[b]) == at_bos
            torch.testing.assert_close(prefix[b, : at_bos + 1], want[: at_bos + 1], atol=1e-5, rtol=1e-5)
    # the lengths by the layout's formula: 2 + sum(4 + frames + tokens) + frames + text + 2
    frames = model._stacked(ctx.audio_lengths)
    block = 2 + (4 + frames + ctx.token_lengths).view(2, 3).sum(1)
    assert seq_lengths.tolist() == (block + model._stacked(lengths) + token_lengths + 2).tolist()
    assert len(MARKERS) == model.context_markers.num_embeddings == 6


def test_loss_is_on_the_target_text_and_eos_only():
    model = _model()
    examples, audio, lengths, texts = _batch()
    ctx = model.make_context(examples)
    tokens, token_lengths = model.encode_texts(texts)
    with torch.no_grad():
        loss, count = model(audio, lengths, tokens, token_lengths, context=ctx)
        logits, _, bos = model.logits(audio, lengths, tokens, token_lengths, context=ctx)
        manual = torch.zeros(())
        for b, text in enumerate(texts):
            targets = torch.tensor(model.vocab.encode(text) + [model.eos_id])
            manual = manual + F.cross_entropy(logits[b, int(bos[b]): int(bos[b]) + len(targets)], targets,
                                              reduction="sum")
        torch.testing.assert_close(loss, manual, atol=1e-4, rtol=1e-5)
        assert int(count) == int(token_lengths.sum()) + 2 == 6
        # another context text: the same count of targets, another loss (the context is read, not scored)
        other = model.make_context([[(w, "ee" if t else "") for w, t in per] for per in examples])
        loss2, count2 = model(audio, lengths, tokens, token_lengths, context=other)
        assert int(count2) == int(count)
        assert abs(float(loss2) - float(loss)) > 1e-3
    # the language is unused with a context (the zero-shot layout has no <lid>)
    with torch.no_grad():
        with_lang, _ = model(audio, lengths, tokens, token_lengths, model.language_ids(LANGS), context=ctx)
    torch.testing.assert_close(with_lang, loss, atol=0, rtol=0)


def test_batch_padding_and_context_rows_stay_with_their_target():
    model = _model()
    examples, audio, lengths, texts = _batch()
    ctx = model.make_context(examples)
    tokens, token_lengths = model.encode_texts(texts)
    with torch.no_grad():
        batch, seq_lengths, _ = model.logits(audio, lengths, tokens, token_lengths, context=ctx)
        loss, count = model(audio, lengths, tokens, token_lengths, context=ctx)
        parts = []
        for b in range(2):
            n_tok = int(token_lengths[b])
            one = model.make_context([examples[b]])
            wave, tok, tl = audio[b:b + 1, : int(lengths[b])], tokens[b:b + 1, :n_tok], token_lengths[b:b + 1]
            alone, alone_lengths, _ = model.logits(wave, None, tok, tl, context=one)
            n = int(alone_lengths[0])
            assert int(seq_lengths[b]) == n
            torch.testing.assert_close(batch[b, :n], alone[0], atol=1e-4, rtol=1e-4)
            parts.append(model(wave, None, tok, tl, context=one))
    torch.testing.assert_close(loss, sum(p[0] for p in parts), atol=1e-4, rtol=1e-5)
    assert int(count) == sum(int(p[1]) for p in parts)
    assert int(seq_lengths[0]) != int(seq_lengths[1])


def test_context_and_target_audio_share_an_encoder_call_when_it_pads_little():
    model = _model()
    gen = torch.Generator().manual_seed(4)
    calls: list[int] = []
    hook = model.encoder.register_forward_hook(lambda _m, args, _out: calls.append(args[0].shape[0]))
    texts = ["ab", "c"]
    tokens, token_lengths = model.encode_texts(texts)
    try:
        results = []
        for target_len in (2000, 20_000):  # contexts of ~2000 samples: one call, then two (a long target)
            examples = _examples(gen, [[(2000, "ab"), (1800, "c")], [(1900, "d")]])
            ctx = model.make_context(examples)
            audio = torch.randn(2, target_len, generator=gen)
            calls.clear()
            with torch.no_grad():
                logits, seq_lengths, _ = model.logits(audio, None, tokens, token_lengths, context=ctx)
            results.append(calls[:])
            # the same as each piece encoded on its own call
            emb, n = model.embed_audio(audio)
            cemb, cn = model.embed_audio(ctx.audio, ctx.audio_lengths)
            with torch.no_grad():
                x, _, _ = model.decoder_inputs(emb, n, None, tokens, token_lengths, context=ctx,
                                               context_emb=(cemb, cn))
                want = model.decoder.project(model.decoder(x))
            for b in range(2):
                k = int(seq_lengths[b])
                torch.testing.assert_close(logits[b, :k], want[b, :k], atol=1e-4, rtol=1e-4)
    finally:
        hook.remove()
    assert results == [[2 + 6], [2, 6]]


def test_kv_cache_with_a_context_gives_the_full_forwards_logits():
    model = _model(seed=3)
    examples, audio, lengths, texts = _batch(seed=5)
    ctx = model.make_context(examples)
    tokens, token_lengths = model.encode_texts(["abca", "dbe"])
    with torch.no_grad():
        logits, _, bos = model.logits(audio, lengths, tokens, token_lengths, context=ctx)
        full = logits.float().log_softmax(-1)
        cache, logp = model._prefill(audio, lengths, None, 8, 1, ctx)
        assert cache.lengths.tolist() == (bos + 1).tolist()  # the rows' own prefix lengths
        for i in range(4):
            want = torch.stack([full[b, int(bos[b]) + i] for b in range(2)])
            torch.testing.assert_close(logp, want, atol=1e-4, rtol=1e-4)
            if i < 3:
                logp = model._step(cache, tokens[:, i])


def test_the_flag_adds_only_the_marker_table_and_changes_nothing_without_a_context():
    plain, flagged = _model(slots=0), _model(slots=3)
    keys, flagged_keys = set(plain.state_dict()), set(flagged.state_dict())
    assert all(k.split(".")[0] in {"encoder", "encoder_proj", "lang_embeddings", "decoder"} for k in keys)
    assert flagged_keys - keys == {"context_markers.weight"} and keys <= flagged_keys
    assert flagged.context_markers.weight.shape == (6, flagged.cfg.dim)
    rows = len(plain.vocab) + 1  # the vocabulary and <lid>, as before
    assert plain.decoder.embed.weight.shape[0] == flagged.decoder.embed.weight.shape[0] == rows
    for k, v in plain.state_dict().items():
        assert torch.equal(v, flagged.state_dict()[k]), k  # the same seed draws the same parameters
    # a plain model's state dict (an existing checkpoint) loads as it is
    missing, unexpected = flagged.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["context_markers.weight"] and unexpected == []
    LLMASRModel(plain.encoder.cfg, plain.cfg, plain.vocab, stack=2).load_state_dict(plain.state_dict())
    _, audio, lengths, texts = _batch()
    tokens, token_lengths = plain.encode_texts(texts)
    lang = plain.language_ids(LANGS)
    with torch.no_grad():
        a = plain.logits(audio, lengths, tokens, token_lengths, lang)[0]
        b = flagged.logits(audio, lengths, tokens, token_lengths, lang)[0]
        assert torch.equal(a, b)
        assert plain.greedy(audio, lengths, lang, 4) == flagged.greedy(audio, lengths, lang, 4)
        with pytest.raises(ValueError, match="without context_slots"):
            plain(audio, lengths, tokens, token_lengths, context=flagged.make_context(_batch()[0]))


def test_max_seq_len_counts_the_context_block():
    examples, audio, lengths, texts = _batch()
    probe = _model()
    ctx = probe.make_context(examples)
    with torch.no_grad():
        _, prefix_lengths, _ = probe._inputs(audio, lengths, None, None, None, None, ctx)
    prefix = int(prefix_lengths.max())
    model = _model(max_seq_len=prefix + 2)
    tokens, token_lengths = model.encode_texts(["abcdef", "d"])
    with torch.no_grad(), pytest.raises(ValueError, match="max_seq_len .* fewer or shorter context examples"):
        model(audio, lengths, tokens, token_lengths, context=ctx)
    # decoding stops where the sequence would pass max_seq_len: at most 2 new tokens, no error
    with torch.no_grad():
        out = model.greedy(audio, lengths, max_new_tokens=50, context=ctx)
        beams = model.beam_search(audio, lengths, beam=2, max_new_tokens=50, context=ctx)
    assert all(len(o) <= 2 for o in out) and all(len(h[0].tokens) <= 2 for h in beams)
    with pytest.raises(ValueError, match="max_seq_len"):
        _model(max_seq_len=prefix - 1).greedy(audio, lengths, max_new_tokens=5, context=ctx)


# -- learning from the context ---------------------------------------------------------------------------------

LETTERS = "abcdefghi"
CLASSES, POOL = 3, 3  # "audio" classes, and the letters each may map to (class k: LETTERS[3k:3k+3])
SAMPLES = 640  # one encoder frame
STEPS = 150


def _task(n: int, gen: torch.Generator, templates: torch.Tensor, letter_ids: torch.Tensor, mismatched: bool = False
          ) -> tuple[torch.Tensor, torch.Tensor, Context]:
    """n targets, each with a fresh random map class -> letter (class k's one of its pool of 3): the context
    shows each class's audio (a fixed random template plus noise) with its letter, in a random order; the target
    is the audio of a random class and its text that class's letter, which only the context tells (the audio
    tells the pool, not the letter). `mismatched`: the context shows another map (every class another letter of
    its pool)."""
    maps = torch.arange(CLASSES) * POOL + torch.randint(0, POOL, (n, CLASSES), generator=gen)  # [n, K] letter index
    shift = torch.randint(1, POOL, (n, CLASSES), generator=gen)
    shown = torch.arange(CLASSES) * POOL + (maps % POOL + shift) % POOL if mismatched else maps
    order = torch.stack([torch.randperm(CLASSES, generator=gen) for _ in range(n)])  # slot -> class
    target = torch.randint(0, CLASSES, (n,), generator=gen)

    def wave(classes: torch.Tensor) -> torch.Tensor:
        return templates[classes] + 0.1 * torch.randn(*classes.shape, SAMPLES, generator=gen)

    ctx = Context(wave(order).flatten(0, 1), torch.full((n * CLASSES,), SAMPLES),
                  letter_ids[shown.gather(1, order)].view(n * CLASSES, 1), torch.ones(n * CLASSES, dtype=torch.long),
                  CLASSES)
    return wave(target), letter_ids[maps[torch.arange(n), target]][:, None], ctx


@pytest.fixture(scope="module")
def in_context():
    """A tiny LLM-ASR (a frozen 1-layer encoder with a 4-layer 320x front end, a 2 x 64 decoder) trained STEPS
    steps of 32 targets on `_task` (it learns in about 50); (model, eval data, accuracies, losses)."""
    torch.manual_seed(0)
    vocab = build_vocab([LETTERS])
    encoder = get_config("tiny", layers=1, conv_layers=((32, 10, 5), (64, 4, 4), (128, 4, 4), (128, 4, 4)))
    model = LLMASRModel(encoder, get_decoder_config("llm-tiny", dim=64, ffn_dim=256), vocab, stack=1,
                        context_slots=CLASSES)
    model.encoder.requires_grad_(False)  # random features separate the classes; the decoder learns the rest
    gen = torch.Generator().manual_seed(0)
    templates = torch.randn(CLASSES, SAMPLES, generator=gen)
    letter_ids = torch.tensor([vocab.encode(c)[0] for c in LETTERS])
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    ones = torch.ones(32, dtype=torch.long)
    losses = []
    start = time.perf_counter()
    model.train()
    for _ in range(STEPS):
        audio, tokens, ctx = _task(32, gen, templates, letter_ids)
        loss, n = model(audio, None, tokens, ones, context=ctx)
        opt.zero_grad()
        (loss / n).backward()
        opt.step()
        losses.append(float(loss.detach() / n))
    seconds = time.perf_counter() - start
    model.eval()
    audio, tokens, ctx = _task(200, torch.Generator().manual_seed(123), templates, letter_ids)
    _, _, mismatched = _task(200, torch.Generator().manual_seed(123), templates, letter_ids, mismatched=True)
    refs = [vocab.decode(t.tolist()) for t in tokens]

    def accuracy(context: Context | None) -> float:
        with torch.no_grad():
            hyps = model.transcribe(audio, max_new_tokens=3, context=context)
        return sum(h == r for h, r in zip(hyps, refs, strict=True)) / len(refs)

    acc = {"right": accuracy(ctx), "mismatched": accuracy(mismatched), "none": accuracy(None)}
    print(f"in-context accuracy {acc} after {STEPS} steps in {seconds:.1f} s; loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    return model, (audio, tokens, ctx), acc, losses


def test_a_tiny_model_learns_to_read_the_letters_off_its_context(in_context):
    _, _, acc, losses = in_context
    # chance is 1/3 (any letter of the class's pool, or any of the 3 the context shows); a model that had
    # memorised a map would not care which one the context shows, and this one follows it: another map, the
    # wrong letters; without a context it can only guess
    assert acc["right"] >= 0.9
    assert acc["mismatched"] <= 0.1
    assert acc["none"] <= 0.6
    assert sum(losses[-20:]) / 20 < 0.1 * sum(losses[:20]) / 20


def test_beam_search_with_a_context(in_context):
    model, (audio, _, ctx), _, _ = in_context
    k = 6 * ctx.slots
    audio, ctx = audio[:6], Context(ctx.audio[:k], ctx.audio_lengths[:k], ctx.tokens[:k], ctx.token_lengths[:k],
                                    ctx.slots)
    greedy = model.greedy(audio, max_new_tokens=4, context=ctx)
    beam1 = model.beam_search(audio, beam=1, nbest=1, max_new_tokens=4, context=ctx)
    assert [h[0].tokens for h in beam1] == greedy
    nbest = model.beam_search(audio, beam=3, nbest=3, max_new_tokens=4, context=ctx)
    assert [h[0].tokens for h in nbest] == greedy
    for b, hyps in enumerate(nbest):
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        # a finished hypothesis's score is the log-probability of its text and </s> with the same context
        hyp = next(h for h in hyps if h.finished and h.tokens)
        rows = slice(b * ctx.slots, (b + 1) * ctx.slots)
        one = Context(ctx.audio[rows], ctx.audio_lengths[rows], ctx.tokens[rows], ctx.token_lengths[rows], ctx.slots)
        with torch.no_grad():
            loss, _ = model(audio[b:b + 1], None, torch.tensor([hyp.tokens]), torch.tensor([len(hyp.tokens)]),
                            context=one)
        assert hyp.score == pytest.approx(-float(loss), abs=1e-3)
