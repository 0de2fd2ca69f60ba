"""Text Plotly draws as typed: class names, run names and labels from students, escaped for Plotly.

Plotly renders a subset of HTML in titles, axis and tick labels, legends, annotations and hover labels
(``<a href>``, ``<b>``, ``<span style>``, ``<br>``) and decodes entities. A class folder named
``<a href="https://host">cat</a>`` would become a link on every student's confusion matrix. Every builder in this
wing passes untrusted text through ``plotly_text`` where it places it, and keeps its own markup (``<br>``,
``<sub>``) outside.

Example: ``plotly_text("<b>cat</b> & dog")`` → ``"&lt;b&gt;cat&lt;/b&gt; &amp; dog"`` (shown as typed).
"""

from __future__ import annotations


def plotly_text(text: object) -> str:
    """``text`` with ``&``, ``<`` and ``>`` as entities: Plotly shows it as typed, never as markup."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
