"""A picture as a PNG data URI: for a Plotly image trace's ``source``, and for ``st.image``, which passes a data URI
to the browser as it is instead of encoding the picture again on every rerun of every student's page.

Example: ``png_source(np.zeros((8, 8), np.uint8))`` → ``'data:image/png;base64,iVBORw0…'``.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def png_source(picture: np.ndarray) -> str:
    """An (H, W) grey or (H, W, 3) RGB uint8 picture as a PNG data URI."""
    buffer = io.BytesIO()
    Image.fromarray(picture, "L" if picture.ndim == 2 else "RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
