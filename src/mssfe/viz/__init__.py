"""Figures: classification maps, confusion matrices, learning curves, benchmark plots.

Importing a figure module selects matplotlib's Agg backend; ``import mssfe`` does not.
"""
