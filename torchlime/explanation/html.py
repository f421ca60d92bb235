"""A notebook and HTML view of explanations: ``exp._repr_html_()``, ``exp.save_html(path)``.

One ``<figure>`` per shown example × explained target, each named by the target's class
(``exp.target_names``) and its model score, surrogate prediction and R². What a figure
holds depends on the kind:

- images: the superpixel weights over the image (red pushes the class up, blue pushes it
  down; borders in grey) as an inline PNG, and the original image beside the figures of
  an example when the caller passes the images (the explanation does not keep them);
- tables: lime's ``show_in_notebook``: horizontal bars of the features (columns with their
  bins) coloured by sign, and the row's values, tinted by the sign of their weight;
- text: the tokens, each tinted by its weight (an explained string as it was written,
  through its tokens' spans; token ids joined with spaces, WordPiece ``##`` pieces
  glued), and bars of the strongest words;
- anything else: bars of the features.

Each example also lists the model's scores of its targets, and the view starts with the
recipe (``exp.config``). The output is self-contained: inline CSS, images as base64 PNG
data URIs (encoded by :func:`~torchlime.explanation.render.encode_png`, without
matplotlib), no script, no link, no web font; every string from the explanation is
escaped. A batch shows its first ``max_examples`` examples and says so.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from torchlime.explanation.base import Explanation
from torchlime.explanation.kinds import ImageExplanation, TabularExplanation, TextExplanation
from torchlime.explanation.render import (
    BLUE,
    RED,
    encode_png,
    image_pixels,
    nice,
    overlay,
    upscale_factor,
)

__all__ = ["MAX_EXAMPLES", "png_data_uri", "save_html", "to_html"]

MAX_EXAMPLES = 8
"""Examples a view shows by default (the first ones of the batch)."""

_RECIPE = ("segmenter", "discretizer", "n_samples", "kernel_width", "surrogate", "alpha",
           "feature_selection", "max_features", "output", "seed")  # fmt: skip
_SEPARATED = ("text", "texts", "offsets", "char_offsets", "offset_mapping")
_WORD_MARKS = ("\u2581", "\u0120")  # SentencePiece's "▁" and byte-level BPE's "Ġ" start words


def _rgb(colour: tuple[float, float, float], alpha: float = 1.0) -> str:
    r, g, b = (round(255 * c) for c in colour)
    return f"rgba({r},{g},{b},{alpha:.3f})"


_CSS = f"""
.tl{{font-family:system-ui,sans-serif;font-size:13px;color:#222;line-height:1.35}}
.tl h4{{margin:2px 0 6px;font-size:14px}}
.tl-recipe{{color:#555;margin:2px 0 6px}}
.tl-note{{color:#8a2b0e;margin:2px 0 6px}}
.tl-example{{border-top:1px solid #ddd;padding:6px 0 10px}}
.tl-row{{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}}
.tl-fig{{margin:0;padding:6px 8px;border:1px solid #e2e2e2;border-radius:4px}}
.tl-fig figcaption{{margin-bottom:5px}}
.tl-sub,.tl-more,.tl-cap{{color:#666;font-size:12px}}
.tl-panel img{{display:block;image-rendering:pixelated}}
.tl-legend{{display:flex;align-items:center;gap:6px;font-size:11px;color:#444;margin-top:5px}}
.tl-ramp{{display:inline-block;width:90px;height:10px;border:1px solid #bbb;
background:linear-gradient(to right,{_rgb(BLUE)},#fff,{_rgb(RED)})}}
.tl-bars{{display:grid;width:max-content;grid-template-columns:auto 160px auto;gap:3px 6px;
align-items:center}}
.tl-track{{position:relative;height:13px;
background:linear-gradient(#aaa,#aaa) center/1px 100% no-repeat}}
.tl-bar{{position:absolute;top:0;bottom:0}}
.tl-pos{{left:50%;background:{_rgb(RED)}}}
.tl-neg{{right:50%;background:{_rgb(BLUE)}}}
.tl-score{{position:absolute;left:0;top:0;bottom:0;background:#9a9a9a}}
.tl-w{{font-variant-numeric:tabular-nums;text-align:right}}
.tl-values{{border-collapse:collapse;font-size:12px}}
.tl-values th,.tl-values td{{padding:1px 6px;text-align:left;border-bottom:1px solid #eee}}
.tl-text{{max-width:660px;white-space:pre-wrap;line-height:1.9;margin:2px 0 8px}}
.tl-tok{{border-radius:3px;padding:1px 0}}
"""


def png_data_uri(pixels: Tensor) -> str:
    """``data:image/png;base64,...`` of (H, W, 3) or (H, W) uint8 pixels."""
    return "data:image/png;base64," + base64.b64encode(encode_png(pixels)).decode("ascii")


def to_html(
    exp: Explanation,
    *,
    images: Tensor | None = None,
    names: Any = None,
    max_examples: int = MAX_EXAMPLES,
    k: int = 10,
) -> str:
    """An HTML fragment showing the explanation (what ``exp._repr_html_()`` returns).

    Args:
        exp: any explanation.
        images: (B, C, H, W) or, for B = 1, (C, H, W) float in [0, 1], the explained images
            as the eye should see them (undo any normalisation): shown beside the weights.
            Image explanations only.
        names: what ``exp.as_list`` names features with: the D column names of a table
            (default: the explainer's), the vocabulary of text (a sequence or mapping
            from token id to string, or a callable; default: the explanation's own words,
            else the token ids).
        max_examples: show the first ``max_examples`` examples of the batch.
        k: the most features a bar chart shows.

    Returns:
        ``<div class="tl">...</div>`` with its own ``<style>``: one ``<figure>`` per shown
        example × target.

    Raises:
        ValueError: for ``images`` of another kind or shape, ``names`` for images or
            tensors, or ``max_examples`` / ``k`` below 1.

    Example:
        >>> import torch
        >>> from torchlime.explanation import Explanation
        >>> one = torch.ones(1, 1)
        >>> exp = Explanation(coef=torch.tensor([[[0.5, -0.25]]]), intercept=one, score=one,
        ...                   local_pred=one, model_pred=one, target=torch.zeros(1, 1).long(),
        ...                   selected=torch.ones(1, 1, 2, dtype=torch.bool),
        ...                   n_features=torch.tensor([2]), seed=torch.tensor([0]))
        >>> to_html(exp).count("<figure")
        1
    """
    if max_examples < 1 or k < 1:
        raise ValueError(f"max_examples and k must be >= 1; got {max_examples} and {k}")
    n = min(len(exp), max_examples)
    shown = exp[:n].cpu()
    pictures = _images(exp, images, n)
    if names is not None and not isinstance(exp, (TabularExplanation, TextExplanation)):
        raise ValueError(f"names= names columns or tokens; a {type(exp).__name__} has neither")
    t = exp.coef.shape[1]
    parts = ['<div class="tl">', f"<style>{_CSS}</style>", _recipe(exp, n, t)]
    if n < len(exp):
        parts.append(
            f'<p class="tl-note">Showing the first {n} of {len(exp)} examples '
            f"(max_examples={max_examples}).</p>"
        )
    parts += [_example(shown, i, pictures, names, k) for i in range(n)]
    parts.append("</div>")
    return "\n".join(parts)


def save_html(
    exp: Explanation,
    path: str | os.PathLike[str],
    *,
    images: Tensor | None = None,
    names: Any = None,
    max_examples: int = MAX_EXAMPLES,
    k: int = 10,
    title: str | None = None,
) -> None:
    """Write a self-contained HTML page of :func:`to_html`'s view to ``path`` (UTF-8).

    The page references nothing outside itself (no script, stylesheet, font or image
    file), so it can be mailed or archived. The folder is created if need be.

    Args:
        exp: any explanation.
        path: the file to write.
        images: as :func:`to_html`.
        names: as :func:`to_html`.
        max_examples: as :func:`to_html`.
        k: as :func:`to_html`.
        title: the page's title (default: the explainer's name).
    """
    body = to_html(exp, images=images, names=names, max_examples=max_examples, k=k)
    title = title or f"{exp.config.get('explainer') or type(exp).__name__} explanation"
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_esc(title)}</title>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        file.write(page)


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _images(exp: Explanation, images: Tensor | None, n: int) -> Tensor | None:
    if images is None:
        return None
    if not isinstance(exp, ImageExplanation):
        raise ValueError(f"images= is for image explanations; got a {type(exp).__name__}")
    images = torch.as_tensor(images)
    if images.ndim == 3:
        images = images[None]
    size = tuple(exp.segments.shape[1:])
    if images.ndim != 4 or len(images) != len(exp) or tuple(images.shape[2:]) != size:
        raise ValueError(
            f"images must be (B, C, H, W) with B={len(exp)} and (H, W)={size}, as the "
            f"explanation's segments; got {tuple(images.shape)}"
        )
    return images[:n].detach().cpu()


def _recipe(exp: Explanation, n: int, t: int) -> str:
    config = exp.config
    kind = config.get("explainer") or type(exp).__name__
    items = []
    for key in _RECIPE:
        value = config.get(key)
        if value is None:
            continue
        if key == "alpha" and config.get("surrogate") is not None:
            continue  # shown with the surrogate
        text = f"{key} {nice(value) if isinstance(value, float) else value}"
        if key == "surrogate" and config.get("alpha") is not None:
            text += f" (alpha {nice(float(config['alpha']))})"
        items.append(text)
    examples = f"{len(exp)} example{'s' * (len(exp) != 1)} × {t} target{'s' * (t != 1)}"
    return (
        f"<h4>{_esc(kind)}: {examples}</h4>\n"
        f'<div class="tl-recipe">{" · ".join(_esc(s) for s in items)}</div>'
    )


def _example(exp: Explanation, i: int, images: Tensor | None, names: Any, k: int) -> str:
    names_t = exp.target_names(i)
    rows = [f'<section class="tl-example" data-index="{i}">', f"<h4>Example {i}</h4>"]
    rows.append(_scores(exp, i, names_t))
    rows.append('<div class="tl-row">')
    if images is not None and isinstance(exp, ImageExplanation):
        scale = upscale_factor(*exp.segments.shape[1:])
        pixels = image_pixels(images[i], scale=scale)
        rows.append(
            f'<div class="tl-panel tl-original"><img alt="image {i}" src="{png_data_uri(pixels)}" '
            f'width="{pixels.shape[1]}" height="{pixels.shape[0]}">'
            f'<div class="tl-cap">original</div></div>'
        )
    for t, name in enumerate(names_t):
        rows.append(_figure(exp, i, t, name, images, names, k))
    rows += ["</div>", "</section>"]
    return "\n".join(rows)


def _scores(exp: Explanation, i: int, names_t: list[str]) -> str:
    """The model's score of each target, as bars (lime's "prediction probabilities")."""
    values = exp.model_pred[i].tolist()
    top = max([1.0] + [abs(v) for v in values])  # probabilities fill [0, 1]
    rows = []
    for name, value in zip(names_t, values, strict=True):
        width = 100 * max(value, 0.0) / top
        rows.append(
            f'<span class="tl-name">{_esc(name)}</span><span class="tl-track" '
            f'style="background:#f2f2f2"><span class="tl-score" style="width:{width:.2f}%">'
            f'</span></span><span class="tl-w">{nice(value)}</span>'
        )
    bars = "".join(rows)
    return f'<div class="tl-cap">model scores</div><div class="tl-bars tl-scores">{bars}</div>'


def _figure(
    exp: Explanation, i: int, t: int, name: str, images: Tensor | None, names: Any, k: int
) -> str:
    out = int(exp.target[i, t])
    facts = [] if name == f"output {out}" else [f"output {out}"]
    facts += [
        f"model {nice(float(exp.model_pred[i, t]))}",
        f"surrogate {nice(float(exp.local_pred[i, t]))}",
        f"R² {nice(float(exp.score[i, t]))}",
    ]
    head = (
        f'<figure class="tl-fig" data-index="{i}" data-target="{t}" data-output="{out}">'
        f'<figcaption><b>{_esc(name)}</b> <span class="tl-sub">{_esc(" · ".join(facts))}'
        "</span></figcaption>"
    )
    if isinstance(exp, ImageExplanation):
        body = _image_body(exp, i, t, name, images)
    elif isinstance(exp, TabularExplanation):
        body = _tabular_body(exp, i, t, names, k)
    elif isinstance(exp, TextExplanation):
        body = _text_body(exp, i, t, names, k)
    else:
        body = _bars(exp.as_list(index=i, target=t), k)
    legend = (
        f'<div class="tl-legend"><span class="tl-ramp"></span><span>red: pushes '
        f"<b>{_esc(name)}</b> up · blue: pushes it down</span></div>"
    )
    return f"{head}\n{body}\n{legend}</figure>"


def _image_body(exp: ImageExplanation, i: int, t: int, name: str, images: Tensor | None) -> str:
    n_features = int(exp.n_features[i])
    coef = exp.coef[i, t]
    limit = float(coef.abs().max())
    scale = upscale_factor(*exp.segments.shape[1:])
    image = None if images is None else images[i]
    pixels = overlay(coef, exp.segments[i], image, scale=scale, limit=limit)
    return (
        f'<div class="tl-panel"><img class="tl-overlay" alt="weights of the {n_features} '
        f'superpixels for {_esc(name)}" src="{png_data_uri(pixels)}" width="{pixels.shape[1]}" '
        f'height="{pixels.shape[0]}"></div>'
        f'<div class="tl-cap">{n_features} superpixels · full colour at ±{nice(limit)}</div>'
    )


def _bars(pairs: Sequence[tuple[str, float]], k: int) -> str:
    """Lime-style horizontal bars: the first ``k`` (name, weight) pairs, by sign."""
    shown = list(pairs[:k])
    limit = max([abs(w) for _, w in shown] + [0.0]) or 1.0
    rows = []
    for label, weight in shown:
        side = "tl-pos" if weight > 0 else "tl-neg"
        rows.append(
            f'<span class="tl-name">{_esc(label)}</span><span class="tl-track"><span '
            f'class="tl-bar {side}" style="width:{50 * abs(weight) / limit:.2f}%"></span></span>'
            f'<span class="tl-w">{"+" if weight > 0 else ""}{nice(weight)}</span>'
        )
    more = len(pairs) - len(shown)
    tail = f'<div class="tl-more">and {more} more (k={k})</div>' if more > 0 else ""
    if not shown:
        return '<div class="tl-more">no selected features</div>'
    return f'<div class="tl-bars">{"".join(rows)}</div>{tail}'


def _tint(weight: float, limit: float) -> str:
    if weight == 0 or limit <= 0:
        return ""
    alpha = min(0.85 * abs(weight) / limit, 1.0)
    return f"background:{_rgb(RED if weight > 0 else BLUE, alpha)}"


def _tabular_body(exp: TabularExplanation, i: int, t: int, names: Any, k: int) -> str:
    pairs = exp.as_list(names, index=i, target=t)
    d = exp.x.shape[1]
    columns = names if names is not None else exp.config.get("feature_names")
    columns = [str(c) for c in columns] if columns is not None else [str(j) for j in range(d)]
    recorded = exp.config.get("categorical_names") or []
    coef = exp.coef[i, t].tolist()
    selected = exp.selected[i, t].tolist()
    limit = max([abs(c) for c, s in zip(coef, selected, strict=True) if s] + [0.0])
    row = exp.x[i].tolist()
    cells = []
    for j in range(d):
        value: Any = row[j]
        if bool(exp.categorical[i, j]):
            value = int(value)
            if j < len(recorded) and recorded[j] and 0 <= value < len(recorded[j]):
                value = recorded[j][value]
        else:
            value = nice(float(value))
        style = _tint(coef[j], limit) if selected[j] else ""
        cells.append(f'<tr style="{style}"><td>{_esc(columns[j])}</td><td>{_esc(value)}</td></tr>')
    table = (
        '<table class="tl-values"><thead><tr><th>feature</th><th>value</th></tr></thead>'
        f"<tbody>{''.join(cells)}</tbody></table>"
    )
    return f'<div class="tl-row">{_bars(pairs, k)}{table}</div>'


def _text_body(exp: TextExplanation, i: int, t: int, names: Any, k: int) -> str:
    weights = exp.token_attributions[i, t].tolist()
    features = exp.token_features[i].tolist()
    limit = max([abs(w) for w in weights] + [0.0])
    text, spans = getattr(exp, "text", None), getattr(exp, "spans", None)
    if names is None and isinstance(text, Tensor) and isinstance(spans, Tensor):
        pieces = _from_spans(text[i], spans[i].tolist())
    else:
        tokens = exp.tokens(i, names) if names is not None else exp.tokens(i)
        pieces = _from_tokens(exp, tokens, own=names is None)
    html_pieces = []
    for gap, shown, pos in pieces:
        if pos < 0:  # a separator: no weight, no box
            html_pieces.append(_esc(gap + shown))
            continue
        tip = nice(weights[pos]) if features[pos] >= 0 else "not a feature"
        html_pieces.append(
            f'{_esc(gap)}<span class="tl-tok" title="{_esc(tip)}" '
            f'style="{_tint(weights[pos], limit)}">{_esc(shown)}</span>'
        )
    pairs = (
        exp.as_list(names, index=i, target=t)
        if names is not None
        else exp.as_list(index=i, target=t)
    )
    return f'<p class="tl-text">{"".join(html_pieces)}</p>{_bars(pairs, k)}'


def _from_spans(text: Tensor, spans: list[list[int]]) -> list[tuple[str, str, int]]:
    """(gap, token, position) pieces of a text read through each token's character span.

    The text between tokens comes back as it was written (position -1); tokens with an
    empty span (special tokens, padding) are left out.
    """
    whole = bytes(text.tolist()).decode("utf-8", errors="replace")
    pieces, cursor = [], 0
    for pos, (a, b) in enumerate(spans):
        if a < cursor or b <= a:
            continue  # padding, a special token, or a span inside the one before
        pieces.append((whole[cursor:a], whole[a:b], pos))
        cursor = b
    pieces.append((whole[cursor:].rstrip("\0"), "", -1))
    return pieces


def _from_tokens(exp: Explanation, tokens: list[str], own: bool) -> list[tuple[str, str, int]]:
    """(gap, token, position) pieces of L token strings ("" at padding).

    Tokens that keep their separators (strings explained with a model over strings) are
    joined as they are; others with spaces, a WordPiece ``##`` piece glued to the one before
    it, and for SentencePiece / byte-level BPE a space only before a word-start mark.
    """
    joined = _carries_separators(exp, tokens, own)
    marked = any(token.startswith(_WORD_MARKS) for token in tokens)
    pieces: list[tuple[str, str, int]] = []
    for pos, token in enumerate(tokens):
        if token == "":
            continue  # padding
        if joined:
            pieces.append((token, "", -1) if not token.strip() else ("", token, pos))
            continue
        if marked:  # a mark starts a word; unmarked pieces continue one
            starts = token.startswith(_WORD_MARKS)
            gap, shown = (" ", token[1:]) if starts else ("", token)
        elif token.startswith("##"):  # WordPiece continues a word
            gap, shown = "", token[2:]
        else:
            gap, shown = " ", token
        pieces.append(("" if not pieces else gap, shown, pos))
    return pieces


def _carries_separators(exp: Explanation, tokens: list[str], own: bool = True) -> bool:
    """True when ``"".join(tokens)`` is the text (tokens keep their spaces), as from strings.

    Strings explained with a model over strings keep their text on the explanation, and
    their own tokens (``own``: not named by a vocabulary) hold the separators; token ids do
    neither, and are joined with spaces. Tokens with spaces in them say so too.
    """
    if own and getattr(exp, "pieces", None) is None:  # not a tokenizer's pieces
        for name in _SEPARATED:  # a field (not a method) holding the text or its offsets
            value = getattr(exp, name, None)
            if value is not None and not callable(value):
                return True
    return any(token != "" and (not token.strip() or token != token.strip()) for token in tokens)
