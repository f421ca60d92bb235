"""The text stages on their own: lime's removal sampler, word features and token removal."""

import torch
from _helpers import assert_close
from _text_data import CLS, NAMES, SENTENCES, UNK, _tokenize, _tokenize_pieces

from torchlime.functional import remove_tokens, sample_removals, text_features


def test_sampler_is_lime_s_scheme():
    """Uniform removal counts 1..K_b, uniformly chosen features, padding never removed."""
    n_features = torch.tensor([4, 9])
    masks = sample_removals(n_features, 40001, generator=torch.Generator().manual_seed(0))
    assert masks.shape == (2, 40001, 9) and masks[:, 0].all()
    assert masks[0, :, 4:].all()
    removed = (~masks[:, 1:]).sum(-1)
    for b, kb in enumerate((4, 9)):
        counts = torch.bincount(removed[b], minlength=kb + 1).double() / 40000
        assert counts[0] == 0
        assert_close(
            counts[1:], torch.full((kb,), 1.0 / kb, dtype=torch.float64), rtol=0, atol=0.012
        )
        per_feature = (~masks[b, 1:, :kb]).double().mean(0)
        assert_close(
            per_feature,
            torch.full((kb,), (kb + 1) / (2 * kb), dtype=torch.float64),
            rtol=0,
            atol=0.012,
        )


def test_features_tokens_and_removal_with_special_tokens():
    ids, attention = _tokenize(SENTENCES, cls=True)
    feats = text_features(ids, attention, special_ids=[CLS])
    words = [list(dict.fromkeys(s.split())) for s in SENTENCES]
    assert feats.n_features.tolist() == [len(w) for w in words]
    for i, w in enumerate(words):
        assert [NAMES[t] for t in feats.feature_tokens[i, : len(w)].tolist()] == w
    assert (feats.token_features[:, 0] == -1).all()  # CLS is no feature
    # dropping the word "great" (feature 4 of sentence 0) removes both occurrences
    keep = torch.ones(1, feats.feature_tokens.shape[1], dtype=torch.bool)
    keep[0, words[0].index("great")] = False
    out, att = remove_tokens(ids[:1], attention[:1], feats.token_features[:1], keep)
    expected, expected_att = _tokenize([SENTENCES[0].replace("great", "")], cls=True)
    assert out[0, : expected.shape[1]].tolist() == expected[0].tolist()
    assert att[0].sum() == expected_att[0].sum()
    masked, att2 = remove_tokens(
        ids[:1], attention[:1], feats.token_features[:1], keep, mask_id=UNK
    )
    assert (masked[0] == UNK).sum() == 2 and torch.equal(att2, attention[:1])


def test_word_removal_drops_or_masks_whole_words():
    ids, attention, word_ids = _tokenize_pieces(["a wonderful joy"])  # cls a won ##der ##ful joy
    feats = text_features(ids, attention, special_ids=[CLS], word_ids=word_ids)
    assert feats.token_features.tolist() == [[-1, 0, 1, 1, 1, 2]]
    assert feats.word_start.tolist() == [[False, True, True, False, False, True]]
    keep = torch.tensor([[True, False, True]])
    dropped, att = remove_tokens(ids, attention, feats.token_features, keep)
    expected, expected_att, _ = _tokenize_pieces(["a joy"])
    assert dropped[:, :3].tolist() == expected.tolist()
    assert att[:, :3].tolist() == expected_att.tolist() and att[:, 3:].sum() == 0
    masked, att = remove_tokens(
        ids, attention, feats.token_features, keep, mask_id=UNK, word_start=feats.word_start
    )
    expected, _, _ = _tokenize_pieces(["a UNKWORDZ joy"])
    assert masked[:, :4].tolist() == expected.tolist() and att.sum() == 4
