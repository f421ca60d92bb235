"""LimeText against lime 0.2.0.1's LimeTextExplainer fed the same removals, and oracles.

The same toy model serves both: lime's classifier tokenizes its strings word by word
(``\\W+``, as lime splits them) into the ids torchlime is given, so lime's deleted words
are torchlime's dropped tokens, and lime's ``"UNKWORDZ"`` is torchlime's ``mask_id``.
lime's RandomState is replaced by a stub that returns the removals torchlime drew.
"""

import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from _helpers import assert_close
from _text_data import (
    CLS,
    NAMES,
    PAD,
    PIECE_NAMES,
    PIECE_VOCAB,
    SENTENCES,
    UNK,
    VOCAB,
    WORD_SENTENCES,
    FixedRemovals,
    _tokenize,
    _tokenize_pieces,
)
from lime.lime_text import LimeTextExplainer
from torch import nn

from torchlime import LimeText, TextExplanation
from torchlime.text import sample_removals, text_features


class TinyClassifier(nn.Module):
    """Embeddings + position embeddings, masked mean, linear: order-aware, HF-style output."""

    def __init__(self, n_classes=3, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.emb = nn.Embedding(len(VOCAB), 8).double()
        self.pos = nn.Parameter(torch.randn(32, 8, generator=g, dtype=torch.float64) * 0.5)
        self.out = nn.Linear(8, n_classes).double()
        with torch.no_grad():
            self.emb.weight.copy_(torch.randn(len(VOCAB), 8, generator=g, dtype=torch.float64))
            self.out.weight.copy_(torch.randn(n_classes, 8, generator=g, dtype=torch.float64))

    def forward(self, input_ids, attention_mask):
        h = torch.tanh(self.emb(input_ids) + self.pos[: input_ids.shape[1]])
        m = attention_mask[..., None].to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1)
        return SimpleNamespace(logits=self.out(pooled))


def _lime_classifier(model, cls=False):
    def classify(texts):
        ids, attention = _tokenize(texts, cls=cls)
        with torch.no_grad():
            return model(ids, attention).logits.softmax(-1).numpy()

    return classify


def _lime_explain(model, text, masks, bow, **kw):
    explainer = LimeTextExplainer(bow=bow, random_state=0)
    explainer.random_state = FixedRemovals(masks)
    return explainer.explain_instance(text, _lime_classifier(model), **kw)


def _dense(local_exp, k):
    coef = np.zeros(k)
    for f, w in local_exp:
        coef[f] = w
    return torch.from_numpy(coef)


@pytest.mark.parametrize("bow", [True, False])
def test_equals_lime_for_every_top_label(bow, device):
    model = TinyClassifier()
    cpu_model = copy.deepcopy(model)  # lime's side keeps its own copy on the CPU
    ids, attention = _tokenize(SENTENCES, cls=False)
    n, top = 300, 2
    feats = text_features(ids, attention, bow=bow)
    masks = sample_removals(feats.n_features, n, generator=torch.Generator().manual_seed(1))
    explainer = LimeText(
        model, bow=bow, mask_id=None if bow else UNK, n_samples=n, batch_size=64, progress=False
    ).to(device)
    exp = explainer(
        ids.to(device), attention_mask=attention.to(device), top_labels=top, masks=masks.to(device)
    )
    assert isinstance(exp, TextExplanation)
    for i, text in enumerate(SENTENCES):
        k = int(feats.n_features[i])
        m = masks[i, :, :k].numpy()
        ref = _lime_explain(cpu_model, text, m, bow, top_labels=top, num_samples=n)
        assert exp.target[i].tolist() == [int(t) for t in ref.top_labels]
        for j, label in enumerate(ref.top_labels):
            assert_close(exp.coef[i, j, :k], _dense(ref.local_exp[label], k), rtol=0, atol=1e-5)
            assert_close(exp.intercept[i, j], torch.tensor(ref.intercept[label]), rtol=0, atol=1e-5)
            ours, theirs = exp.as_list(NAMES, index=i, target=j), ref.as_list(label=label)
            assert [w for w, _ in ours] == [w for w, _ in theirs]
            assert [c for _, c in ours] == pytest.approx([c for _, c in theirs], abs=1e-5)
            alone = _lime_explain(cpu_model, text, m, bow, labels=(label,), num_samples=n)
            assert_close(exp.score[i, j], torch.tensor(alone.score), rtol=0, atol=1e-5)
            assert_close(exp.local_pred[i, j], torch.tensor(alone.local_pred[0]), rtol=0, atol=1e-5)
        assert (exp.coef[i, :, k:] == 0).all()


@pytest.mark.parametrize(("mode", "k"), [("forward_selection", 2), ("highest_weights", 3)])
def test_feature_selection_equals_lime(mode, k):
    model = TinyClassifier(seed=1)
    ids, attention = _tokenize(SENTENCES[:1])
    feats = text_features(ids, attention)
    masks = sample_removals(feats.n_features, 200, generator=torch.Generator().manual_seed(2))
    exp = LimeText(model, n_samples=200, feature_selection=mode, max_features=k, progress=False)(
        ids, target=torch.tensor([[0, 1]]), attention_mask=attention, masks=masks
    )
    explainer = LimeTextExplainer(feature_selection=mode, random_state=0)
    explainer.random_state = FixedRemovals(masks[0].numpy())
    ref = explainer.explain_instance(
        SENTENCES[0], _lime_classifier(model), labels=(0, 1), num_samples=200, num_features=k
    )
    kk = int(feats.n_features[0])
    for j in (0, 1):
        assert set(exp.selected[0, j].nonzero().flatten().tolist()) == {
            f for f, _ in ref.local_exp[j]
        }
        assert_close(exp.coef[0, j], _dense(ref.local_exp[j], kk), rtol=0, atol=1e-5)


def test_keyword_oracle_ranks_the_keyword_first(device):
    """A score that only looks for one word ranks that word first, in every sentence."""
    ids, attention = _tokenize(SENTENCES, cls=True)
    keywords = [VOCAB["great"], VOCAB["dull"], VOCAB["bad"]]

    def model(input_ids, attention_mask):
        hit = torch.zeros(input_ids.shape[0], dtype=torch.float64, device=input_ids.device)
        for word in keywords:
            hit = hit + ((input_ids == word) & attention_mask.bool()).any(1).double()
        return torch.stack([-2.0 * hit, 2.0 * hit], 1)

    for bow in (True, False):
        exp = LimeText(
            model,
            bow=bow,
            mask_id=None if bow else UNK,
            special_ids=[CLS],
            n_samples=500,
            progress=False,
        )(
            ids.to(device),
            target=1,
            attention_mask=attention.to(device),
            generator=torch.Generator(device).manual_seed(0),
        )
        for i, word in enumerate(["great", "dull", "bad"]):
            top = exp.as_list(NAMES, index=i)[0]
            assert top[0] == word and top[1] > 0, (bow, i, exp.as_list(NAMES, index=i))


def test_same_seed_same_result_batch_size_invariant_and_rng_untouched(device):
    model = TinyClassifier(seed=3).float().to(device)
    model.train()
    ids, attention = _tokenize(SENTENCES, cls=True)
    ids, attention = ids.to(device), attention.to(device)
    rng = torch.get_rng_state()
    results = []
    for bs in (5, 64, 2000):
        explainer = LimeText(model, special_ids=[CLS], n_samples=200, batch_size=bs)
        results.append(
            explainer(
                ids,
                attention_mask=attention,
                top_labels=2,
                generator=torch.Generator(device).manual_seed(7),
            )
        )
    assert torch.equal(torch.get_rng_state(), rng)
    assert model.training
    for other in results[1:]:
        assert_close(other.coef, results[0].coef, rtol=1e-6, atol=1e-7)
    different = explainer(
        ids,
        attention_mask=attention,
        top_labels=2,
        generator=torch.Generator(device).manual_seed(8),
    )
    assert not torch.equal(different.coef, results[0].coef)


def test_shapes_attributions_save_load(tmp_path):
    model = TinyClassifier(seed=4)
    ids, attention = _tokenize(SENTENCES, cls=True)
    explainer = LimeText(model, special_ids=[CLS], n_samples=80, progress=False)
    exp = explainer(ids, attention_mask=attention, top_labels=2, keep_samples=True)
    k = exp.feature_tokens.shape[1]
    assert exp.coef.shape == (3, 2, k) and exp.masks.shape == (3, 80, k)
    attr = exp.token_attributions
    assert attr.shape == (3, 2, ids.shape[1])
    assert (attr[:, :, 0] == 0).all()  # CLS
    assert (attr[attention[:, None, :].expand_as(attr) == 0] == 0).all()
    # every word's tokens carry the weight of its feature, numbered by first occurrence
    for i, sentence in enumerate(SENTENCES):
        feature = {w: f for f, w in enumerate(dict.fromkeys(sentence.split()))}
        for pos, word in enumerate(sentence.split(), start=1):  # after CLS
            for t in range(2):
                assert attr[i, t, pos] == exp.coef[i, t, feature[word]]
    listed = exp.as_list(NAMES, index=0, positions=True)
    assert any(name.startswith("great_") and name.count("-") == 1 for name, _ in listed)
    path = tmp_path / "text.pt"
    exp.save(path)
    back = TextExplanation.load(path)
    assert back.as_list(NAMES, index=2) == exp.as_list(NAMES, index=2)
    assert exp[1].as_list(NAMES) == exp.as_list(NAMES, index=1)
    assert "bow=True" in repr(explainer)
    pytest.importorskip("matplotlib")
    from torchlime.plot import bar_figure

    fig = bar_figure(exp, NAMES, index=0, target=1)
    shown = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert shown == [word for word, _ in exp.as_list(NAMES, index=0, target=1)][::-1]


def test_rejects_bad_input():
    explainer = LimeText(TinyClassifier(), special_ids=[CLS], n_samples=20, progress=False)
    ids, attention = _tokenize(SENTENCES)
    with pytest.raises(ValueError, match=r"input_ids must be \(B, L\); got shape \(11,\)"):
        explainer(ids[0])
    with pytest.raises(TypeError, match="integer token ids"):
        explainer(ids.float())
    with pytest.raises(TypeError, match="tokenize first"):
        explainer(["a string"])
    with pytest.raises(ValueError, match=r"attention_mask must be \(B, L\)"):
        explainer(ids, attention_mask=attention[:, :3])
    only_cls = torch.tensor([[CLS, PAD, PAD]])
    with pytest.raises(ValueError, match=r"sequences \[0\] have no feature to explain \(empty"):
        explainer(only_cls, attention_mask=torch.tensor([[1, 0, 0]]))
    with pytest.raises(ValueError, match="empty text"):
        explainer(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"masks must be \(B, N, K\)"):
        explainer(ids, attention_mask=attention, masks=torch.ones(3, 10, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"target must lie in \[0, 3\)"):
        explainer(ids, attention_mask=attention, target=5)
    with pytest.raises(ValueError, match="kernel_width"):
        LimeText(TinyClassifier(), kernel_width=0)
    with pytest.raises(ValueError, match=r"word_ids must be \(B, L\) = \(3, 11\)"):
        explainer(ids, attention_mask=attention, word_ids=torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="integer word indices"):
        explainer(ids, attention_mask=attention, word_ids=torch.zeros(3, 11))


# --------------------------------------------------------------------------- words of pieces


class PieceClassifier(TinyClassifier):
    def __init__(self, seed=0):
        super().__init__(seed=seed)
        self.emb = nn.Embedding(len(PIECE_VOCAB), 8).double()
        with torch.no_grad():
            g = torch.Generator().manual_seed(seed + 100)
            self.emb.weight.copy_(torch.randn(len(PIECE_VOCAB), 8, generator=g).double())


@pytest.mark.parametrize("bow", [True, False])
def test_words_of_several_pieces_equal_lime_s_words(bow, device):
    """With word_ids, features are lime's words: the same samples give lime's explanation.

    lime works on the strings; its classifier tokenizes them into pieces (one UNK for its
    "UNKWORDZ"); torchlime gets the pieces and their word ids, drops a removed word's
    pieces (bow) or puts one mask token in its place (positions).
    """
    model = PieceClassifier()
    cpu_model = copy.deepcopy(model)
    ids, attention, word_ids = _tokenize_pieces(WORD_SENTENCES)
    feats = text_features(ids, attention, bow=bow, special_ids=[CLS], word_ids=word_ids)
    n = 300
    masks = sample_removals(feats.n_features, n, generator=torch.Generator().manual_seed(2))
    explainer = LimeText(
        model,
        bow=bow,
        mask_id=None if bow else UNK,
        special_ids=[CLS],
        n_samples=n,
        batch_size=64,
        progress=False,
    ).to(device)
    exp = explainer(
        ids.to(device),
        attention_mask=attention.to(device),
        word_ids=word_ids.to(device),
        target=1,
        masks=masks.to(device),
    )

    def classify(texts):
        pieces, att, _ = _tokenize_pieces(texts)
        with torch.no_grad():
            return cpu_model(pieces, att).logits.softmax(-1).numpy()

    for i, text in enumerate(WORD_SENTENCES):
        k = int(feats.n_features[i])
        distinct = len(dict.fromkeys(text.split()))
        assert k == (distinct if bow else len(text.split()))
        lime = LimeTextExplainer(bow=bow, random_state=0)
        lime.random_state = FixedRemovals(masks[i, :, :k].numpy())
        ref = lime.explain_instance(text, classify, labels=(1,), num_samples=n)
        assert_close(exp.coef[i, 0, :k], _dense(ref.local_exp[1], k), rtol=0, atol=1e-5)
        assert_close(exp.intercept[i, 0], torch.tensor(ref.intercept[1]), rtol=0, atol=1e-5)
        assert_close(exp.score[i, 0], torch.tensor(ref.score), rtol=0, atol=1e-5)
        assert_close(exp.local_pred[i, 0], torch.tensor(ref.local_pred[0]), rtol=0, atol=1e-5)
        ours, theirs = exp.as_list(PIECE_NAMES, index=i), ref.as_list(label=1)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
