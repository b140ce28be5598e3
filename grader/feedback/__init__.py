"""Renderers of the results model: the terminal table and the HTML feedback page."""
