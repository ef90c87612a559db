"""Markdown from the model rendered as Telegram HTML, and split into sendable chunks."""

from __future__ import annotations

import pytest

from minibot.adapters.messaging.telegram.markdown import render_html, split_markdown
from tests.fakes.telegram_server import check_html, visible_text

pytestmark = pytest.mark.timeout(10)


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        ("**bold** and __bold__", "<b>bold</b> and <b>bold</b>"),
        ("*it* and _it_", "<i>it</i> and <i>it</i>"),
        ("~~gone~~", "<s>gone</s>"),
        ("`a < b`", "<code>a &lt; b</code>"),
        ("[docs](https://e.org/?a=1&b=2)", '<a href="https://e.org/?a=1&amp;b=2">docs</a>'),
        ("[x](javascript:alert(1))", "[x](javascript:alert(1))"),
        ("# Title", "<b>Title</b>"),
        ("- one\n* two", "• one\n• two"),
        ("> quoted\n> more", "<blockquote>quoted\nmore</blockquote>"),
        (
            "```py\nif a<b:\n    pass\n```",
            '<pre><code class="language-py">if a&lt;b:\n    pass</code></pre>',
        ),
        ("```\nplain\n```", "<pre>plain</pre>"),
        ("snake_case_name and 2*3*4", "snake_case_name and 2*3*4"),
        ("a < b & c > d", "a &lt; b &amp; c &gt; d"),
        ("**unclosed", "**unclosed"),
        ("**bold _and italic_**", "<b>bold <i>and italic</i></b>"),
    ],
)
def test_rendering(markdown: str, html: str) -> None:
    assert render_html(markdown) == html


@pytest.mark.parametrize(
    "markdown",
    ["**a _b** c_", "<script>", "`unclosed **", "```\nnever closed", "*a **b* c**", "&amp;"],
)
def test_awkward_input_still_renders_html_telegram_accepts(markdown: str) -> None:
    assert check_html(render_html(markdown)) is None


def test_a_code_block_cut_in_two_is_closed_and_reopened() -> None:
    code = "\n".join(f"x{i} = {i}" for i in range(900))
    chunks = split_markdown(f"Here:\n\n```python\n{code}\n```\nDone.", 4096)
    assert len(chunks) >= 2
    for chunk in chunks:
        html = render_html(chunk)
        assert check_html(html) is None
        assert len(visible_text(html, "HTML")) <= 4096
    assert chunks[1].startswith("```python\n")
    assert chunks[0].endswith("\n```")


def test_short_markdown_is_one_chunk_and_blank_is_none() -> None:
    assert split_markdown("hi") == ["hi"]
    assert split_markdown("  ") == []
