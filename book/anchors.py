"""Heading anchors as JupyterLab makes them, so the notebooks' `NN_topic.ipynb#4.-Title` links work in the book."""
import re


def jupyter_anchor(title: str) -> str:
    """The heading's text with each space as '-' (JupyterLab keeps case and punctuation)."""
    return re.sub(r"\s", "-", title.strip())
