"""Strings a student controls (run names, class folders, file names, messages, link fields), shown as typed.

Nearly everything Streamlit draws renders Markdown: st.markdown / caption / info / error / warning / success /
toast / title / subheader, widget labels, radio options, metric values, image captions and st.table cells. A class
folder named ``![x](https://host/p.png)`` there becomes an image fetched from that host by every student who
opens the dataset. ``plain()`` escapes every character Markdown (and Streamlit's ``:color[...]`` directives,
``$`` maths, autolinks) gives a meaning, so the text reads exactly as typed. Plain-text places need nothing:
st.text, st.code, st.dataframe cells, selectbox / multiselect options. Plotly figures escape their own text
(vision_core/figures/text.py).

Example: ``st.caption(f"Classes: {plain(', '.join(classes))}")``.
"""

from __future__ import annotations

import re

# The ASCII punctuation that means something in Markdown, GFM (tables, strikethrough, and the ``:`` ``.`` ``@`` of
# autolinks: https://host, www.host, a@host), Streamlit's directives (``:red[...]``) or KaTeX (``$``). CommonMark
# lets a backslash escape each one, and shows it as typed.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:@])")


def plain(text: object) -> str:
    """``text`` escaped for anything that renders Markdown: shown literally, never a link, image, HTML or colour.

    Example: ``plain("![x](https://h/p.png)")`` → ``\\!\\[x\\]\\(https\\:...`` which shows as ``![x](https://h/p.png)``.
    """
    return _MARKDOWN_SPECIALS.sub(r"\\\1", str(text))
