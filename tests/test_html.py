"""The HTML view: structure read back with the stdlib parser, pixels decoded independently."""

from __future__ import annotations

import base64
import importlib.util
import io
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from _modalities import KINDS, case, explained
from PIL import Image

from torchlime import LimeText, TextExplanation
from torchlime.explanation.html import to_html
from torchlime.explanation.render import encode_png

OUTPUTS = {"image": 5, "tabular_discretized": 3, "tabular_continuous": 3, "text": 4}


class Page(HTMLParser):
    """Figures (with their caption, text, images), tags and attributes of a view."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.figures: list[dict] = []
        self.originals: list[str] = []
        self.notes: list[str] = []
        self.where: set[str] = set()
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if tag == "figure":
            self.figure = {"index": int(a["data-index"]), "target": int(a["data-target"]),
                           "output": int(a["data-output"]), "caption": "", "text": "",
                           "tokens": "", "overlays": []}  # fmt: skip
            self.figures.append(self.figure)
            self.where.add("figure")
        elif tag in ("figcaption", "p"):
            self.where.add(tag)
        elif tag == "img" and a.get("class") == "tl-overlay":
            self.figure["overlays"].append(a)
        elif tag == "img":
            self.originals.append(a["src"])

    def handle_endtag(self, tag: str) -> None:
        self.where.discard(tag)

    def handle_data(self, data: str) -> None:
        if "figure" not in self.where:
            self.notes.append(data)
            return
        self.figure["text"] += data
        if "figcaption" in self.where:
            self.figure["caption"] += data
        if "p" in self.where:
            self.figure["tokens"] += data


def decode_png(data: bytes) -> torch.Tensor:
    """(H, W, 3) or (H, W) uint8, decoded by Pillow (not by our encoder's code)."""
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return torch.from_numpy(np.array(image))


def png_pixels(src: str) -> torch.Tensor:
    """(H, W, 3) uint8 of a data URI."""
    head, data = src.split(",", 1)
    assert head == "data:image/png;base64"
    return decode_png(base64.b64decode(data))


def _explained(kind: str, **settings):
    names = [f"<b>class {j}</b>" for j in range(OUTPUTS.get(kind, 3))]
    return explained(case(kind), class_names=names, **settings)[1]


@pytest.mark.parametrize("kind", KINDS)
def test_one_figure_per_example_and_target_named_by_class(kind):
    exp = _explained(kind)
    page = Page(exp._repr_html_())
    b, t = exp.coef.shape[:2]
    pairs = {(f["index"], f["target"]) for f in page.figures}
    assert len(page.figures) == b * t
    assert pairs == {(i, j) for i in range(b) for j in range(t)}
    for f in page.figures:
        name = exp.target_names(f["index"])[f["target"]]
        assert name.startswith("<b>class")
        assert name in f["caption"]
        assert f"pushes {name} up" in f["text"]
        assert f["output"] == int(exp.target[f["index"], f["target"]])
    assert "<b>class" not in exp.to_html()  # escaped, not markup
    assert "explainer" not in exp.config or exp.config["explainer"] in "".join(page.notes)


def test_malicious_class_name_is_escaped():
    evil = '<script>alert("x")</script>'
    exp = explained(case("tabular_discretized"), class_names=[evil, "a&b", "c"])[1]
    text = exp.to_html()
    assert "<script" not in text.lower()
    page = Page(text)
    assert all(tag != "script" for tag, _ in page.tags)
    shown = [f["caption"] for f in page.figures]
    assert any(evil in c for c in shown) or any("a&b" in c for c in shown)


@pytest.mark.parametrize("kind", ["tabular_discretized", "tabular_continuous"])
def test_tabular_names_columns_with_bins_and_values(kind):
    exp = _explained(kind)
    columns = ["age<", "income & tax", "kids", "debt", "zip"]
    page = Page(exp.to_html(names=columns))
    for f in page.figures:
        i, t = f["index"], f["target"]
        for label, weight in exp.as_list(columns, index=i, target=t):
            assert label in f["text"]
            assert f"{weight:+.3g}".lstrip("+") in f["text"]
        for column in columns:
            assert column in f["text"]
        assert f"{float(exp.x[i, 0]):.3g}" in f["text"]


def test_text_words_tinted_and_joined_with_spaces_and_wordpiece():
    exp = _explained("text")
    vocab = [f"w{j}" for j in range(20)]
    vocab[4] = "##ing"  # a continuation piece: glued to the word before it
    page = Page(exp.to_html(names=vocab))
    for f in page.figures:
        i = f["index"]
        tokens = [tok for tok in exp.tokens(i, vocab) if tok]
        expected = " ".join(tokens).replace(" ##", "")
        assert f["tokens"] == expected
        for word, _ in exp.as_list(vocab, index=i, target=f["target"]):
            assert word in f["text"]
    tinted = [a for tag, a in page.tags if tag == "span" and a.get("class") == "tl-tok"]
    weights = exp.token_attributions[0, 0][exp.token_features[0] >= 0]
    signs = ["214,38,41" in a["style"] for a in tinted[: len(weights)] if a["style"]]
    assert signs == [bool(w > 0) for w in weights if w != 0]


def test_text_tokens_that_keep_their_separators_are_joined_as_they_are():
    exp = _explained("text")
    vocab = [f"word{j} " if j % 3 else f"w{j}, " for j in range(20)]  # string-path tokens
    page = Page(exp.to_html(names=vocab))
    for f in page.figures:
        assert f["tokens"] == "".join(exp.tokens(f["index"], vocab))


def test_text_string_path_is_detected_by_a_text_field():
    exp = _explained("text")
    tokens = exp.tokens(0)

    class WithText:  # what a string-path explanation adds: its text
        text = ("...",)

    from torchlime.explanation import html

    assert not html._carries_separators(exp, tokens)
    assert html._carries_separators(WithText(), tokens)
    assert isinstance(exp, TextExplanation)


@pytest.mark.skipif(
    "text" not in TextExplanation.tensor_fields(), reason="explanations keep no text yet"
)
def test_explained_strings_are_shown_as_written():
    texts = ["a good, very good  film!", "bad plot\nbut <good> acting"]

    def classifier_fn(batch):
        good = torch.tensor([t.count("good") - 2 * t.count("bad") for t in batch]).float()
        return torch.stack([torch.sigmoid(-good), torch.sigmoid(good)], 1)

    explainer = LimeText(classifier_fn, n_samples=100, progress=False)
    exp = explainer(texts, target=1, generator=0)
    page = Page(exp.to_html())
    assert [f["tokens"] for f in page.figures] == texts
    assert "<good>" not in exp.to_html()
    tinted = [a for tag, a in page.tags if tag == "span" and a.get("class") == "tl-tok"]
    assert any("214,38,41" in a["style"] for a in tinted)  # "good" pushes output 1 up


@pytest.mark.parametrize("with_images", [False, True])
def test_image_pixels_have_the_sign_of_their_superpixel(with_images):
    c = case("image")
    _, exp = explained(c, feature_selection="none", class_names=[f"c{j}" for j in range(5)])
    page = Page(exp.to_html(images=c.inputs if with_images else None))
    assert len(page.originals) == (len(exp) if with_images else 0)
    strong_seen = 0
    for f in page.figures:
        (img,) = f["overlays"]
        pixels = png_pixels(img["src"]).int()
        i, t = f["index"], f["target"]
        coef, segments = exp.coef[i, t], exp.segments[i]
        zoom = pixels.shape[0] // segments.shape[0]
        assert pixels.shape[:2] == (segments.shape[0] * zoom, segments.shape[1] * zoom)
        assert (int(img["width"]), int(img["height"])) == (pixels.shape[1], pixels.shape[0])
        seg = segments.repeat_interleave(zoom, 0).repeat_interleave(zoom, 1)
        pad = torch.nn.functional.pad(seg[None].float(), (1, 1, 1, 1), mode="replicate")[0]
        interior = (
            (pad[1:-1, :-2] == seg) & (pad[1:-1, 2:] == seg)
            & (pad[:-2, 1:-1] == seg) & (pad[2:, 1:-1] == seg)
        )  # fmt: skip
        weight = coef[seg]
        red_minus_blue = (pixels[..., 0] - pixels[..., 2]).sign()
        strong = interior & (weight.abs() > 0.01 * coef.abs().max())
        assert torch.equal(red_minus_blue[strong], weight.sign().int()[strong])
        assert (red_minus_blue[interior & (weight == 0)] == 0).all()
        border = torch.zeros_like(interior)  # a pixel whose right or lower neighbour differs
        border[:, :-1] |= seg[:, :-1] != seg[:, 1:]
        border[:-1, :] |= seg[:-1, :] != seg[1:, :]
        grey = (pixels[..., 0] == pixels[..., 1]) & (pixels[..., 1] == pixels[..., 2])
        assert grey[border].all()
        strong_seen += int(strong.sum())
    assert strong_seen > 0


def test_original_image_is_shown_as_given():
    c = case("image")
    exp = explained(c)[1]
    page = Page(exp.to_html(images=c.inputs))
    for i, src in enumerate(page.originals):
        pixels = png_pixels(src)
        zoom = pixels.shape[0] // c.inputs.shape[2]
        expected = (c.inputs[i].permute(1, 2, 0) * 255).round().to(torch.uint8)
        assert torch.equal(pixels[::zoom, ::zoom], expected)


def test_png_encoder_round_trips_through_an_independent_decoder():
    g = torch.Generator().manual_seed(0)
    for shape in [(5, 7, 3), (1, 1, 3), (9, 4)]:
        pixels = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
        assert torch.equal(decode_png(encode_png(pixels)), pixels)
    with pytest.raises(ValueError, match="uint8"):
        encode_png(torch.zeros(2, 2, 3))


def test_save_html_writes_a_self_contained_page(tmp_path):
    c = case("image")
    exp = explained(c)[1]
    path = tmp_path / "views" / "image.html"
    exp.save_html(path, images=c.inputs, title="a <title>")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    page = Page(text)
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "link", "iframe", "object", "embed", "base"}
    for _, attrs in page.tags:
        for key in ("src", "href", "srcset", "action"):
            assert attrs.get(key, "data:").startswith("data:"), attrs
    rest = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text).lower()
    for external in ("http:", "https:", "//", "@import", "url(", "@font-face", "src="):
        assert external not in rest.replace('src=""', ""), external
    assert "a &lt;title&gt;" in text


def test_a_large_batch_shows_the_first_examples_and_says_so():
    exp = _explained("tabular_continuous")
    page = Page(exp.to_html(max_examples=2))
    assert {f["index"] for f in page.figures} == {0, 1}
    assert "Showing the first 2 of 3 examples" in "".join(page.notes)
    assert "Showing" not in exp.to_html()


def test_the_recipe_is_summarised():
    exp = _explained("image")
    notes = " ".join(Page(exp.to_html()).notes)
    for part in ("LimeImage", "n_samples 200", "kernel_width 0.25", "ridge (alpha 1)", "seed 0"):
        assert part in notes


def test_wrong_arguments_are_refused():
    c = case("image")
    exp = explained(c)[1]
    with pytest.raises(ValueError, match="images must be"):
        exp.to_html(images=c.inputs[:, :, :10])
    with pytest.raises(ValueError, match="names="):
        exp.to_html(names=["a"])
    table = _explained("tabular_continuous")
    with pytest.raises(ValueError, match="image explanations"):
        table.to_html(images=c.inputs)
    with pytest.raises(ValueError, match="max_examples"):
        to_html(table, max_examples=0)


def test_views_leave_the_global_rng_alone():
    exp = _explained("image")
    before = torch.get_rng_state()
    exp.to_html()
    assert torch.equal(before, torch.get_rng_state())


def _check_module():
    path = Path(__file__).parents[1] / "benchmarks" / "check_html_view.py"
    spec = importlib.util.spec_from_file_location("check_html_view", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(
    not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")),
    reason="no chromium: apt-get install -y chromium",
)
def test_a_real_browser_shows_the_expected_colours(tmp_path):
    check = _check_module()
    report = check.check(tmp_path, check.chromium_path())
    assert report["ok"], report
