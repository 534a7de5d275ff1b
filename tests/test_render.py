"""tfner.render: entities marked in their text, the text escaped, nothing else changed."""

from __future__ import annotations

import re

import pytest

import tfner
from tfner import Span


def test_marks_each_entity_and_keeps_every_character_of_the_text():
    text = "Ann <b>&</b> Bob met in Rome."
    spans = [Span(0, 3, "PER", 0.9), Span(13, 16, "PER", 0.8), Span(24, 28, "LOC")]
    html = tfner.render(text, spans)
    marks = re.findall(r'<mark[^>]*>(.*?)<span[^>]*>(.*?)</span></mark>', html)
    assert marks == [("Ann", "PER"), ("Bob", "PER"), ("Rome", "LOC")]
    # the text without the labels is the original, escaped once
    plain = re.sub(r"<span[^>]*>.*?</span>", "", html)
    plain = re.sub(r"<[^>]+>", "", plain)
    assert plain == "Ann &lt;b&gt;&amp;&lt;/b&gt; Bob met in Rome."
    assert html._repr_html_() == html  # Jupyter displays it as HTML
    assert "<script" not in html and "stylesheet" not in html


def test_a_list_of_texts_renders_each_with_its_spans(fitted):
    texts = ["Alice flew to Paris.", "Carol met Bob in Rome !"]
    html = tfner.render(texts, fitted.predict(texts), show_scores=True)
    assert html.count('class="tfner-entities"') == 2 and html.count("<mark") >= 4


@pytest.mark.parametrize("spans, message", [
    ([Span(0, 9, "PER")], "outside the text"),
    ([Span(0, 3, "PER"), Span(2, 5, "LOC")], "overlaps"),
])
def test_spans_that_cannot_be_drawn_raise(spans, message):
    with pytest.raises(tfner.DataFormatError, match=message):
        tfner.render("Ann met", spans)
