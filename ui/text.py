"""Strings a student controls (run names, class folders, file names, messages, link fields), shown as typed.

Nearly everything Streamlit draws renders Markdown: st.markdown / caption / info / error / warning / success /
toast / title / subheader, widget labels, radio options, metric values, image captions and st.table cells. A class
folder named ``![x](https://host/p.png)`` there becomes an image fetched from that host by every student who
opens the dataset. ``plain()`` escapes every character Markdown (and Streamlit's ``:color[...]`` directives,
``$`` maths, autolinks) gives a meaning, so the text reads exactly as typed. Plain-text places need nothing:
st.text, st.code, st.dataframe cells, selectbox / multiselect options. Plotly figures escape their own text
(vision_core/figures/text.py).

A bare ``https://host`` would still become a link (Streamlit finds URLs in the text after escapes are resolved),
so ``plain`` also puts an invisible word joiner inside ``://``, after ``www`` and after ``@``.

Example: ``st.caption(f"Classes: {plain(', '.join(classes))}")``.
"""

from __future__ import annotations

import re

# The ASCII punctuation that means something in Markdown, GFM (tables, strikethrough), Streamlit's directives
# (``:red[...]``, ``:material/icon:``) or KaTeX (``$``). CommonMark lets a backslash escape each one, and shows it
# as typed.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:@])")


# Streamlit's Markdown turns bare URLs and e-mail addresses into links after escapes are resolved (GFM's autolink
# literals are found in the text, backslashes or not). An invisible word joiner (U+2060) inside "://", after
# "www" and after "@" breaks the pattern and shows nothing. (Found by tests/e2e/test_untrusted_text.py.)
_AUTOLINK_SEAMS = re.compile(r"(?<=:)(?=//)|(?<=\bwww)(?=\.)|(?<=@)", re.IGNORECASE)
WORD_JOINER = "\u2060"


def plain(text: object) -> str:
    """``text`` escaped for anything that renders Markdown: shown literally, never a link, image, HTML or colour.

    Example: ``plain("![x](https://h/p.png)")`` → ``\\!\\[x\\]\\(https\\:...`` which shows as ``![x](https://h/p.png)``.
    """
    return _MARKDOWN_SPECIALS.sub(r"\\\1", _AUTOLINK_SEAMS.sub(WORD_JOINER, str(text)))
