"""What a hand-in or a template is made of: ``.py`` and ``.ipynb`` submissions, solution markers,
and the templates generated from them. Knows nothing of grading."""
