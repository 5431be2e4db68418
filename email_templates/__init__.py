"""MJML and text templates per message kind and language, and their renderer (mjml-python).

Empty until the digest issue: the layer exists so that the layout of DESIGN.md holds.
"""
