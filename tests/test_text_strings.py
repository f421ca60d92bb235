"""LimeText on text as users hold it: strings with a model over strings, and with a tokenizer.

Strings with a model over strings are compared with lime 0.2.0.1's LimeTextExplainer fed
the same removals (its RandomState replaced by a stub, as in test_text.py): the same
words, the same perturbed strings, the same fit. The tokenizer path uses a WordPiece
tokenizer built offline with ``tokenizers`` and wrapped in transformers'
PreTrainedTokenizerFast (skipped when they are missing).
"""

import io
import re
import warnings

import numpy as np
import pytest
import torch
from _helpers import assert_close
from _text_data import FixedRemovals
from lime.lime_text import IndexedCharacters, IndexedString, LimeTextExplainer
from torch import nn

from torchlime import LimeText, TextExplanation
from torchlime.functional import text_features
from torchlime.functional.words import decode_texts, encode_texts, remove_words, split_text

TEXTS = [
    "The film was great, truly great! A great cast, a dull plot.",
    "Dull, dull, dull... not great at all; the ending was dull.",
    "Great acting -- great music -- but the plot? Dull.",
]
KEYWORDS = {"great": 1.2, "dull": -0.9, "not": -0.4}


def keyword_model(texts):
    """A logistic model of keyword counts: list[str] -> (n, 2) probabilities (numpy)."""
    counts = [[len(re.findall(rf"\b{k}\b", t.lower())) for k in KEYWORDS] for t in texts]
    z = np.array(counts, dtype=float) @ np.array(list(KEYWORDS.values())) - 0.2
    p = 1 / (1 + np.exp(-z))
    return np.stack([1 - p, p], 1)


def char_model(texts):
    """Characters: how many 'a', 'e' and '!' (for char_level)."""
    z = np.array([0.3 * t.count("a") - 0.2 * t.count("e") + t.count("!") for t in texts])
    p = 1 / (1 + np.exp(-(z - 1)))
    return np.stack([1 - p, p], 1)


def three_class_model(texts):
    counts = np.array([[t.lower().count(k) for k in ("great", "dull", "plot")] for t in texts])
    logits = counts * np.array([1.0, 0.7, -0.5]) + np.array([0.1, 0.0, -0.1])
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _lime(text, model, masks, labels=(1,), **kwargs):
    explainer = LimeTextExplainer(random_state=0, **kwargs)
    explainer.random_state = FixedRemovals(masks)
    return explainer.explain_instance(text, model, labels=labels, num_samples=len(masks))


def _dense(local_exp, k):
    coef = np.zeros(k)
    for f, w in local_exp:
        coef[f] = w
    return torch.from_numpy(coef)


def _words(text):
    return text.split(" ")


SETTINGS = {
    "bow": ({"bow": True}, keyword_model),
    "positions": ({"bow": False}, keyword_model),
    "chars": ({"char_level": True}, char_model),
    "char positions": ({"char_level": True, "bow": False}, char_model),
    "regex": ({"split_expression": r"[\s,.!?;-]+"}, keyword_model),
    "callable": ({"split_expression": _words, "bow": False}, keyword_model),
    "mask string": ({"bow": False, "mask_string": "[gone]"}, keyword_model),
}


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_strings_equal_lime_given_the_same_samples(setting):
    kwargs, model = SETTINGS[setting]
    texts = [t[:30] for t in TEXTS] if kwargs.get("char_level") else TEXTS
    n = 300
    explainer = LimeText(model, n_samples=n, batch_size=64, progress=False, **kwargs)
    g = torch.Generator().manual_seed(5)
    exp = explainer(texts, target=1, generator=g, keep_samples=True)
    assert exp.config["output"] == "identity"
    for i, text in enumerate(texts):
        k = int(exp.n_features[i])
        ref = _lime(text, model, exp.masks[i, :, :k].numpy(), **kwargs)
        assert_close(exp.coef[i, 0, :k].double(), _dense(ref.local_exp[1], k), rtol=0, atol=1e-5)
        assert_close(
            exp.intercept[i, 0].double(), torch.tensor(ref.intercept[1]), rtol=0, atol=1e-5
        )
        assert_close(exp.score[i, 0].double(), torch.tensor(ref.score), rtol=0, atol=1e-5)
        assert_close(
            exp.local_pred[i, 0].double(), torch.tensor(ref.local_pred[0]), rtol=0, atol=1e-5
        )
        ours, theirs = exp.as_list(index=i), ref.as_list(label=1)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
        assert [c for _, c in ours] == pytest.approx([c for _, c in theirs], abs=1e-5)
        listed = [w for w, _ in exp.as_list(index=i, positions=True)]
        assert listed == [w for w, _ in ref.as_list(label=1, positions=True)]
        assert exp.feature_labels(i)[:k] == list(ref.domain_mapper.indexed_string.inverse_vocab)
        assert "".join(exp.tokens(i)) == text


def test_injected_masks_and_top_labels_equal_lime():
    """masks= gives lime's samples; every top label's fit is lime's."""
    n = 250
    explainer = LimeText(three_class_model, n_samples=n, progress=False)
    first = explainer(TEXTS, keep_samples=True, generator=0)
    masks = torch.rand(first.masks.shape, generator=torch.Generator().manual_seed(1)) < 0.6
    exp = explainer(TEXTS, top_labels=2, masks=masks)
    for i, text in enumerate(TEXTS):
        k = int(exp.n_features[i])
        m = masks[i, :, :k].clone()
        m[0] = True
        explainer_ref = LimeTextExplainer(random_state=0)
        explainer_ref.random_state = FixedRemovals(m.numpy())
        ref = explainer_ref.explain_instance(text, three_class_model, top_labels=2, num_samples=n)
        assert exp.target[i].tolist() == [int(t) for t in ref.top_labels]
        for j, label in enumerate(ref.top_labels):
            assert_close(
                exp.coef[i, j, :k].double(), _dense(ref.local_exp[label], k), rtol=0, atol=1e-5
            )
            ours, theirs = exp.as_list(index=i, target=j), ref.as_list(label=label)
            assert [w for w, _ in ours] == [w for w, _ in theirs]
            assert exp.as_map(index=i)[int(label)] == [
                (f, pytest.approx(w, abs=1e-5)) for f, w in ref.as_map()[label]
            ]


ODD_TEXTS = [
    "  leading and trailing,  ",
    "café naïve — 😀 ok 😀!",
    "word",
    "...",
    "a\nb\tc  d",
]


@pytest.mark.parametrize("char_level", [False, True])
@pytest.mark.parametrize("bow", [True, False])
def test_pieces_and_perturbed_strings_are_lime_s(bow, char_level):
    """split_text is lime's IndexedString; remove_words + decode_texts its inverse_removing."""
    g = np.random.default_rng(0)
    words = encode_texts(ODD_TEXTS, char_level=char_level)
    for i, text in enumerate(ODD_TEXTS):
        if char_level:
            ref = IndexedCharacters(text, bow=bow)
        else:
            ref = IndexedString(text, bow=bow)
            pieces, is_word = split_text(text)
            assert pieces == ref.as_list
            occurrences = IndexedString(text, bow=False).inverse_vocab
            assert [p for p, w in zip(pieces, is_word, strict=True) if w] == occurrences
        feats = text_features(words.ids[i : i + 1], words.is_word[i : i + 1], bow=bow)
        k = int(feats.n_features[0])
        assert k == ref.num_words()
        mask = None
        if not bow:
            mask = torch.tensor(list(ref.mask_string.encode()), dtype=torch.uint8)
        for _ in range(5 if k else 0):  # lime fails on a text without words
            removed = g.choice(k, size=g.integers(0, k + 1), replace=False) if k else []
            keep = torch.ones(1, max(k, 1), dtype=torch.bool)
            keep[0, list(removed)] = False
            out, length = remove_words(
                words.text[i : i + 1],
                words.byte_piece[i : i + 1],
                feats.token_features,
                keep,
                mask=mask,
            )
            expected = ref.inverse_removing(np.asarray(removed, dtype=int))
            assert decode_texts(out, length) == [expected]


def test_callable_splitter_and_its_error_are_lime_s():
    text = "New York is big; New York!"
    splitter = lambda s: ["New York", "is", "big", "New York"]  # noqa: E731
    pieces, is_word = split_text(text, splitter)
    assert pieces == IndexedString(text, split_expression=splitter).as_list
    assert is_word == [True, False, True, False, True, False, True, False]
    with pytest.raises(ValueError, match="do not belong in string"):
        split_text(text, lambda s: ["Boston"])


def test_model_calls_in_batches_numpy_tensor_or_list(device):
    sizes = []

    def counted(texts):
        assert all(isinstance(t, str) for t in texts)
        sizes.append(len(texts))
        return keyword_model(texts)

    explainer = LimeText(counted, n_samples=90, batch_size=32, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "already probabilities" warning: identity
        exp = explainer(TEXTS, target=1, generator=0)
    assert max(sizes) <= 32 and sum(sizes) == len(TEXTS) * 90
    assert exp.config["output"] == "identity"
    assert "output" not in repr(explainer)  # chosen per call
    as_tensor = LimeText(
        lambda t: torch.from_numpy(keyword_model(t)).to(device), n_samples=90, progress=False
    )
    as_list = LimeText(lambda t: keyword_model(t).tolist(), n_samples=90, progress=False)
    for other in (as_tensor, as_list):
        assert_close(other(TEXTS, target=1, generator=0).coef, exp.coef, rtol=0, atol=1e-7)
    one = LimeText(keyword_model, n_samples=90, progress=False)(TEXTS[1], target=1, generator=3)
    assert len(one) == 1 and one.as_list()[0][0] == "dull"
    softmax = LimeText(keyword_model, n_samples=20, output="softmax", progress=False)
    with pytest.warns(UserWarning, match="already probabilities"):
        assert softmax(TEXTS, generator=0).config["output"] == "softmax"


def test_string_explanation_views_slices_save_and_concat():
    explainer = LimeText(keyword_model, n_samples=120, progress=False)
    exp = explainer(TEXTS, target=1, generator=torch.Generator().manual_seed(2))
    for i, text in enumerate(TEXTS):
        tokens = exp.tokens(i)
        assert len(tokens) == exp.token_attributions.shape[-1]
        pieces, is_word = split_text(text)
        assert tokens[: len(pieces)] == pieces and set(tokens[len(pieces) :]) <= {""}
        labels = exp.feature_labels(i)
        for t, (piece, word) in enumerate(zip(pieces, is_word, strict=False)):
            f = int(exp.token_features[i, t])
            assert (f >= 0) == word
            weight = exp.token_attributions[i, 0, t]
            assert weight == (exp.coef[i, 0, f] if word else 0)
            assert not word or labels[f] == piece
    assert exp.as_list(index=0)[0][0] == "great"
    buf = io.BytesIO()
    exp.save(buf)
    buf.seek(0)
    back = TextExplanation.load(buf)
    assert back.as_list(index=2) == exp.as_list(index=2)
    assert exp[1].tokens() == exp.tokens(1)[: len(exp[1].tokens())]
    both = TextExplanation.concat([exp[2], exp[0]])
    assert both.as_list(index=1) == exp.as_list(index=0)
    assert "".join(both.tokens(0)) == TEXTS[2] and "".join(both.tokens(1)) == TEXTS[0]


def test_strings_are_deterministic_and_leave_the_global_rng_alone():
    rng = torch.get_rng_state()
    runs = [
        LimeText(keyword_model, n_samples=100, batch_size=bs, progress=False)(
            TEXTS, target=1, generator=7
        )
        for bs in (7, 300)
    ]
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.equal(runs[0].coef, runs[1].coef)
    assert runs[0].seed.tolist() == [7, 7, 7]


def test_string_replay_repeats_and_adaptive():
    explainer = LimeText(keyword_model, n_samples=80, progress=False)
    exp = explainer(TEXTS, target=1, keep_samples=True, generator=1)
    assert torch.equal(explainer.replay(TEXTS, exp).coef, exp.coef)
    twice = explainer(TEXTS, target=1, repeats=2, generator=1)
    assert len(twice) == 6 and "".join(twice.tokens(4)) == TEXTS[1]
    auto = LimeText(keyword_model, n_samples="auto", max_samples=300, progress=False)
    assert auto(TEXTS, target=1, generator=0).as_list(index=1)[0][0] == "dull"


def test_rejects_bad_text_input():
    explainer = LimeText(keyword_model, n_samples=20, progress=False)
    with pytest.raises(TypeError, match=r"input_ids as a list must hold only strings.*int"):
        explainer(["a text", 3])
    with pytest.raises(ValueError, match="input_ids must hold at least one text"):
        explainer([])
    with pytest.raises(ValueError, match=r"sequences \[1\] have no feature to explain"):
        explainer(["a text", " ... !"])
    with pytest.raises(ValueError, match="attention_mask and word_ids describe token ids"):
        explainer(["a text"], attention_mask=torch.ones(1, 3))
    with pytest.raises(ValueError, match=r"the model's scores .* must be \(n, O\)"):
        LimeText(lambda t: np.zeros((len(t), 2, 2)), n_samples=20, progress=False)("a b")
    with pytest.raises(ValueError, match=r"masks must be \(B, N, K\)"):
        explainer(TEXTS, masks=torch.ones(3, 10, 2, dtype=torch.bool))
    with pytest.raises(TypeError, match="split_expression must be a regex or a callable"):
        LimeText(keyword_model, split_expression=3)

    class OverIds(nn.Module):
        def forward(self, input_ids, attention_mask):
            return input_ids.float()

    with pytest.raises(TypeError, match=r"input_ids holds strings and no tokenizer= is set"):
        LimeText(OverIds(), n_samples=20, progress=False)(["a text"])


# --------------------------------------------------------------------------- tokenizers

VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "film", "was", "un", "##believ",
    "##able", "great", "dull", "a", "cast", "plot", "!", ".", ",", "not", "bad",
]  # fmt: skip
IDS = {w: i for i, w in enumerate(VOCAB)}
SENTENCES = ["The film was unbelievable! A great cast.", "A dull plot, dull cast, not bad."]


@pytest.fixture(scope="module")
def tokenizer():
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    from tokenizers import models, normalizers, pre_tokenizers, processors

    tok = tokenizers.Tokenizer(models.WordPiece(IDS, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", IDS["[CLS]"]), ("[SEP]", IDS["[SEP]"])],
    )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


class BagOfPieces(nn.Module):
    """A logit per piece, summed: "##believ" (so "unbelievable") and "great" up, "dull" down.

    Checks that token_type_ids come with every call and stay aligned with their tokens:
    1 from the token after the first [SEP] to the last one, 0 on padding.
    """

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(len(VOCAB)))
        with torch.no_grad():
            self.weight[IDS["##believ"]] = 2.0
            self.weight[IDS["great"]] = 1.0
            self.weight[IDS["dull"]] = -1.0
        self.segment_b = 0

    def forward(self, input_ids, attention_mask, token_type_ids):
        sep = (input_ids == IDS["[SEP]"]).long()
        after_first = (sep.cumsum(1) - sep) >= 1
        pairs = (sep.sum(1) == 2)[:, None]
        expected = (after_first & pairs & attention_mask.bool()).long()
        assert torch.equal(token_type_ids, expected), (input_ids, token_type_ids)
        self.segment_b += int(token_type_ids.sum())
        s = (self.weight[input_ids] * attention_mask).sum(1)
        return torch.stack([-s, s], 1)


def test_tokenizer_makes_words_of_pieces(tokenizer, device):
    model = BagOfPieces().to(device)
    explainer = LimeText(model, tokenizer=tokenizer, n_samples=200, progress=False)
    exp = explainer(SENTENCES, target=1, generator=torch.Generator(device).manual_seed(0))
    assert exp.config["output"] == "softmax" and exp.coef.device.type == device.type
    tokens = exp.tokens(0)
    assert tokens[:8] == ["[CLS]", "the", "film", "was", "un", "##believ", "##able", "!"]
    # words: the film was unbelievable ! a great cast . -> 9 features (A and a are one);
    # a dull plot , cast not bad . -> 8
    assert exp.n_features.tolist() == [9, 8]
    words = ["The", "film", "was", "unbelievable", "!", "A", "great", "cast", "."]
    assert exp.feature_labels(0)[:9] == words
    assert exp.as_list(index=0)[0][0] == "unbelievable"
    assert exp.as_list(index=1)[0][0] == "dull"
    un = tokens.index("un")
    assert (exp.token_attributions[0, 0, un : un + 3] == exp.token_attributions[0, 0, un]).all()
    assert exp.token_attributions[0, 0, 0] == 0  # [CLS]
    assert exp.as_list(index=0, positions=True)[0][0] == "unbelievable_13"
    assert exp.as_list(VOCAB, index=0)[0][0] == "unbelievable"  # a vocabulary works too


@pytest.mark.parametrize("mask", [False, True])
def test_batch_encoding_forwards_aligned_token_type_ids(tokenizer, mask):
    model = BagOfPieces()
    explainer = LimeText(
        model,
        tokenizer=tokenizer,
        mask_id=IDS["[MASK]"] if mask else None,
        n_samples=150,
        batch_size=40,
        progress=False,
    )
    enc = tokenizer(SENTENCES, ["a great plot", "dull"], padding=True, return_tensors="pt")
    exp = explainer(enc, target=1, generator=0)
    assert model.segment_b > 0
    assert exp.text is None and exp.tokens(0)[12:17] == ["[SEP]", "a", "great", "plot", "[SEP]"]
    assert {w for w, _ in exp.as_list(index=0)[:2]} == {"unbelievable", "great"}  # great twice
    assert exp.n_features.tolist() == [10, 8]  # segment B's words: "plot" is new, "dull" not


def test_batch_encoding_equals_strings(tokenizer):
    explainer = LimeText(BagOfPieces(), tokenizer=tokenizer, n_samples=120, progress=False)
    from_strings = explainer(SENTENCES, target=1, generator=4)
    enc = tokenizer(SENTENCES, padding=True, truncation=True, return_tensors="pt")
    from_encoding = explainer(enc, target=1, generator=4)
    assert torch.equal(from_strings.coef, from_encoding.coef)
    ours = [w for w, _ in from_encoding.as_list(index=0)]
    assert ours == [w.lower() for w, _ in from_strings.as_list(index=0)]
    plain = explainer(dict(enc), target=1, generator=4)  # no word_ids: tokens are features
    assert plain.n_features[0] > from_strings.n_features[0]


def test_tokenizer_errors(tokenizer):
    with pytest.raises(ValueError, match="tokenizer must be a callable tokenizer"):
        LimeText(BagOfPieces(), tokenizer=tokenizer, char_level=True)
    explainer = LimeText(BagOfPieces(), tokenizer=tokenizer, n_samples=20, progress=False)
    with pytest.raises(ValueError, match="must hold 'input_ids'"):
        explainer({"attention_mask": torch.ones(1, 3)})
    enc = dict(tokenizer(SENTENCES, padding=True, return_tensors="pt"))
    enc["token_type_ids"] = enc["token_type_ids"][:, :3]
    with pytest.raises(ValueError, match=r"input_ids\['token_type_ids'\] must be \(B, L\)"):
        explainer(enc)
